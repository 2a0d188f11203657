"""The zero-code battery (layer 7): check names, the subject, the checks and
their pytest items. It reads the plugin's settings, never the plugin.
"""
