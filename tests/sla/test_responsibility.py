"""Responsibility matrix (terms A 4.1 / B 4.1) and where the SLA applies (A 5.4)."""

from __future__ import annotations

import pytest

from sla import Layer, ServiceType, provider_is_responsible, sla_applies
from tests.sla.factories import service

DEDICATED_MATRIX_A_4_1 = {
    Layer.DATA: False,
    Layer.APPLICATIONS: False,
    Layer.MIDDLEWARE: False,
    Layer.OS: False,
    Layer.VIRTUALIZATION: False,
    Layer.HARDWARE: True,
    Layer.NETWORK: True,
}
OBJECT_STORAGE_MATRIX_B_4_1 = {
    Layer.DATA: False,
    Layer.APPLICATIONS: True,
    Layer.MIDDLEWARE: True,
    Layer.OS: True,
    Layer.VIRTUALIZATION: True,
    Layer.HARDWARE: True,
    Layer.NETWORK: True,
}


@pytest.mark.parametrize(("layer", "provider"), DEDICATED_MATRIX_A_4_1.items())
def test_dedicated_provider_answers_only_for_hardware_and_network(  # A 4.1
    layer: Layer, provider: bool
) -> None:
    assert provider_is_responsible(ServiceType.DEDICATED, layer) is provider


@pytest.mark.parametrize(("layer", "provider"), OBJECT_STORAGE_MATRIX_B_4_1.items())
def test_object_storage_provider_answers_for_everything_but_data(  # B 4.1
    layer: Layer, provider: bool
) -> None:
    assert provider_is_responsible(ServiceType.OBJECT_STORAGE, layer) is provider


@pytest.mark.parametrize("service_type", list(ServiceType))
def test_unclassified_layer_counts_against_the_provider(service_type: ServiceType) -> None:
    assert provider_is_responsible(service_type, None) is True


def test_dedicated_sla_applies_only_in_provider_data_centre() -> None:  # A 5.4
    assert sla_applies(service(in_provider_dc=True)) is True
    assert sla_applies(service(in_provider_dc=False)) is False


def test_object_storage_sla_always_applies() -> None:  # B 1: always at the provider's site
    storage = service(service_type=ServiceType.OBJECT_STORAGE, in_provider_dc=False)
    assert sla_applies(storage) is True
