"""Point-click annotation tool: a loopback web server and a single-page canvas app.

It reads and writes the ``points`` format (``images/`` + ``points/<stem>.json``),
so a folder annotated here is a dataset ``dvc repro`` can read directly.
"""
