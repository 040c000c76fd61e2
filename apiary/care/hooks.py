"""Care's plug-ins into other apps (registered from ``CareConfig.ready``)."""
