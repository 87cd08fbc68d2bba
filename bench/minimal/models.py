"""The baseline's token table (`bench.minimal.tokens` creates it)."""

from __future__ import annotations

from django.db import models

from bench.minimal.tokens import TABLE


class ApiToken(models.Model):
    objects: models.Manager[ApiToken] = models.Manager()
    digest = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        managed = False
        db_table = TABLE

    def __str__(self) -> str:
        return self.name
