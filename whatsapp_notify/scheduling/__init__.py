"""Scheduling: sends declared on model changes (disparadores) and on dates (recordatorios)."""
