"""sbert-lessons: the tested helpers behind the course's notebooks.

Each module is one concept and names the chapter that introduces it:
``profile`` (ch. 0), ``models`` (ch. 0), ``data`` (ch. 0), ``cache`` (ch. 0), ``report`` (ch. 0),
``evaluation`` (ch. 0), ``plots`` (ch. 0).
Modules are imported on demand so that ``import sbert_lessons`` stays fast.
"""

__version__ = "0.1.0"
