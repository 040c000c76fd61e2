from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "apiary.demo"
    label = "demo"
