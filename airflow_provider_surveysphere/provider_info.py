"""What Airflow's providers manager learns about this package (the ``apache_airflow_provider`` entry point).

Airflow 3.2+ builds the connection form from ``conn-fields`` and ``ui-field-behaviour`` here, without
importing the hook; Airflow 2.11 asks the hook's ``get_connection_form_widgets``/``get_ui_field_behaviour``,
which read the same two constants.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_surveysphere import __version__

# The port stays visible: Airflow 3.3.0-3.3.2's connection list sends an empty port as 0 when it tests a
# connection and refuses the test (the UI shows only "Bad Request"; apache/airflow#73298 fixed it), so a
# user may fill it in. The connection reads port 0 as "no port"; a port in the Base URL wins over the field
# (its label says so), so a filled-in port never conflicts with a later change of the Base URL.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema"],
    "relabeling": {
        "host": "Base URL",
        "port": "Port (used when the Base URL has none)",
        "login": "Client ID",
        "password": "Client Secret",
    },
    "placeholders": {
        "host": "https://app.surveysphere.co.uk",
        "port": "443",
        "login": "your client id",
        "password": "your client secret",
        "extra": '{"timeout": 60, "max_retries": 5}',
    },
}

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "token_url": {
        "label": "Token URL",
        "description": "Absolute URL or path of the token endpoint (default /connect/token).",
        "schema": {"type": ["string", "null"]},
    },
    "scope": {
        "label": "Scope",
        "description": "OAuth scope sent with the token request, if your client needs one.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for the server on each request (default 60).",
        "schema": {"type": ["number", "null"]},
    },
    "verify": {
        "label": "Verify TLS",
        "description": "true, false, or the path of a CA bundle (default: verify with the system's CAs).",
        "schema": {"type": ["string", "null"]},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "How many times a transient failure (429, 5xx, dropped connection) is retried (default 5).",
        "schema": {"type": ["integer", "null"]},
    },
    "token_refresh_leeway": {
        "label": "Token refresh leeway (seconds)",
        "description": "Renew the token when fewer seconds than this remain (default 60, at most half its lifetime).",
        "schema": {"type": ["number", "null"]},
    },
}


#: The ``surveysphere`` Asset URI scheme of hook lineage: Airflow 3 reads ``asset-uris``, Airflow 2.11
#: ``dataset-uris``; the OpenLineage provider turns such an Asset into the operator's own dataset naming.
ASSET_URIS: list[dict[str, Any]] = [
    {
        "schemes": ["surveysphere"],
        "handler": "airflow_provider_surveysphere.asset_uris.normalize_source_uri",
        "to_openlineage_converter": "airflow_provider_surveysphere.asset_uris.convert_source_asset_to_openlineage",
    }
]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager."""
    return {
        "package-name": "airflow-provider-surveysphere",
        "name": "SurveySphere",
        "description": "Export and query survey data from the SurveySphere REST API (OAuth 2.0 client credentials).",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "SurveySphere",
                "python-modules": ["airflow_provider_surveysphere.hooks.surveysphere"],
            }
        ],
        "operators": [
            {
                "integration-name": "SurveySphere",
                "python-modules": ["airflow_provider_surveysphere.operators.surveysphere"],
            }
        ],
        "sensors": [
            {
                "integration-name": "SurveySphere",
                "python-modules": ["airflow_provider_surveysphere.sensors.surveysphere"],
            }
        ],
        "triggers": [
            {
                "integration-name": "SurveySphere",
                "python-modules": ["airflow_provider_surveysphere.triggers.surveysphere"],
            }
        ],
        "asset-uris": ASSET_URIS,
        "dataset-uris": ASSET_URIS,
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_surveysphere.hooks.surveysphere.SurveySphereHook",
                "hook-name": "SurveySphere",
                "connection-type": "surveysphere",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
