"""Scoring outside the pipeline: `headcount score` (anyone's prediction files) and `headcount agree` (two annotators).

The metrics themselves are `pipeline.score`, which the evaluate stage runs; this
package holds what only the commands need: the file formats, ground truth read
straight from a dataset, and the agreement between two annotation folders.
"""
