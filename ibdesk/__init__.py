"""ImageBank SysAdmin (ibdesk): the administrator program of a clinical image bank."""

__version__ = "2.1.0"
