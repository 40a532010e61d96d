"""The UniFER Gradio Space: ``ui`` builds the demo from the package; ``app.py`` is the Space's entry file."""
