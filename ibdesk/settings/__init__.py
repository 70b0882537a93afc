"""The General settings tab's domain: the database connection, the image folder, database tools.

``connection`` parses and shows server choices, ``dbadmin`` tests, lists, creates and attaches
databases and makes workstation logins, ``backup`` writes verified database backups and
``imagefolder`` checks and stores the shared image folder. The clinic-wide key-value settings
themselves live in ``ibdesk.clinic_settings``.
"""
