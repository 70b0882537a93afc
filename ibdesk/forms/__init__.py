"""WTForms classes, one module per tab (``ibdesk/forms/<tab>.py``)."""
