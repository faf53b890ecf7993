"""Aisle project configuration; importing it makes the Celery app current."""

from core.celery_app import app as celery_app

__all__ = ("celery_app",)
