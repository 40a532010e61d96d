"""The UniFER Gradio Space: ``ui`` builds the demo from the package; ``app.py`` is the Space's entry file; ``export``
writes the folder to push (``unifer export space``)."""
