from django.contrib import admin

from . import models

admin.site.site_header = "tousu 投诉管理后台"
admin.site.register(models.StaffProfile)
admin.site.register(models.Partner)
admin.site.register(models.ReplyTemplate)
admin.site.register(models.IntegrationToken)
admin.site.register(models.Webhook)
