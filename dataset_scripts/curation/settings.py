"""The curation settings now live with every data command's options in :mod:`unifer.data.configs`; this name
stays for the teacher client's import (``teachers.py``) until it imports them from there."""

from unifer.data.configs import SAMPLING_SETTINGS, Settings

__all__ = ["SAMPLING_SETTINGS", "Settings"]
