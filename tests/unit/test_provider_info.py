"""Registration with Airflow: entry point, provider info, connection form on both Airflow lines."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from importlib.metadata import entry_points, version

import pytest

from airflow_provider_surveysphere.hooks.surveysphere import SurveySphereHook
from airflow_provider_surveysphere.provider_info import get_provider_info


def test_entry_point_returns_the_provider_info():
    (entry_point,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_surveysphere")]
    info = entry_point.load()()
    assert info["package-name"] == "airflow-provider-surveysphere"
    assert info["versions"] and info["hooks"] and info["connection-types"][0]["connection-type"] == "surveysphere"


def test_connection_form_labels():
    conn_type = get_provider_info()["connection-types"][0]
    assert conn_type["hook-class-name"] == "airflow_provider_surveysphere.hooks.surveysphere.SurveySphereHook"
    behaviour = conn_type["ui-field-behaviour"]
    assert behaviour["relabeling"] == {
        "host": "Base URL", "port": "Port (used when the Base URL has none)", "login": "Client ID", "password": "Client Secret"
    }
    assert set(behaviour["hidden-fields"]) == {"schema"}  # port visible: Airflow 3.3's Test needs it filled
    assert behaviour["placeholders"]["port"] == "443"
    assert set(conn_type["conn-fields"]) == {"token_url", "scope", "timeout", "verify", "max_retries", "token_refresh_leeway"}


def test_airflow_2_form_methods_agree_with_provider_info():
    behaviour = SurveySphereHook.get_ui_field_behaviour()
    assert behaviour["relabeling"]["login"] == "Client ID" and "schema" in behaviour["hidden_fields"]


def test_providers_manager_knows_the_connection_type_without_deprecation_warnings():
    from airflow.providers_manager import ProvidersManager

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager = ProvidersManager()
        assert "airflow-provider-surveysphere" in manager.providers
        hook_info = manager.hooks["surveysphere"]  # imports the hook, as the connection form does
    assert [str(w.message) for w in caught if "SurveySphere" in str(w.message)] == []
    assert hook_info is not None and hook_info.hook_class_name.endswith("SurveySphereHook")
    assert hook_info.connection_id_attribute_name == "surveysphere_conn_id"


EXTRA_FIELDS = ["max_retries", "scope", "timeout", "token_refresh_leeway", "token_url", "verify"]


def test_connection_form_shows_the_extra_fields_and_labels_on_this_airflow_line():
    """What the form of this line reads: Airflow 3's UI API (which mocks wtforms where FAB is absent, as on
    3.0 and 3.1), or Airflow 2.11's providers manager (the FAB form)."""
    try:
        import airflow.api_fastapi.core_api.services.ui.connections  # noqa: F401
    except ImportError:  # Airflow 2.11
        from airflow.providers_manager import ProvidersManager

        manager = ProvidersManager()
        widgets = sorted(
            name.removeprefix("extra__surveysphere__")
            for name in manager.connection_form_widgets
            if name.startswith("extra__surveysphere__")
        )
        assert widgets == EXTRA_FIELDS
        assert manager.field_behaviours["surveysphere"]["relabeling"]["password"] == "Client Secret"
        return
    if version("apache-airflow").startswith("3.0.") and importlib.util.find_spec("wtforms") is None:
        pytest.skip("Airflow 3.0's UI shows no provider's extra fields without wtforms (the FAB provider); "
                    "the Extra JSON field takes them there")
    # A fresh process, as the API server is: this one's providers manager was already loaded without the mocks.
    script = """if True:
        import json
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
        (meta,) = [hook for hook in HookMetaService.hook_meta_data() if hook.connection_type == "surveysphere"]
        print(json.dumps({"extra": sorted(meta.extra_fields or {}), "standard": meta.standard_fields.model_dump()}))
    """
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    meta = json.loads(result.stdout.strip().splitlines()[-1])
    assert meta["extra"] == EXTRA_FIELDS
    assert meta["standard"]["password"]["title"] == "Client Secret"
    assert meta["standard"]["url_schema"]["hidden"] and not meta["standard"]["port"]["hidden"]
