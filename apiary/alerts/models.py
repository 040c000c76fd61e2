"""Alerts: rules, detectors, alerts with their evidence and next actions, deliveries."""
