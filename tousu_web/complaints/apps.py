from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "tousu_web.complaints"
    label = "complaints"
    verbose_name = "投诉处理"
