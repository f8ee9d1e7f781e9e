"""Small ERP-like models the tests fire disparadores on."""

from django.db import models


class Cliente(models.Model):
    nombre = models.CharField(max_length=100)
    telefono = models.CharField(max_length=40, blank=True)

    def __str__(self):
        return self.nombre


class Orden(models.Model):
    numero = models.CharField(max_length=20)
    cliente = models.ForeignKey(Cliente, models.CASCADE)
    estado = models.CharField(max_length=20, default="ABIERTA")
    notas = models.TextField(blank=True)

    def __str__(self):
        return self.numero


class Cita(models.Model):
    cliente = models.ForeignKey(Cliente, models.CASCADE)
    fecha = models.DateTimeField(null=True, blank=True)
    estado = models.CharField(max_length=20, default="PROGRAMADA")
    notas = models.TextField(blank=True)

    def __str__(self):
        return f"Cita {self.pk}"
