"""Apache Airflow provider for the SurveySphere survey platform's REST API."""

from __future__ import annotations

__version__ = "0.1.0"
