"""Who answers for which layer (terms A 4.1 / B 4.1), and where the SLA applies at all."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sla.model import Layer, ServiceRecord, ServiceType

PROVIDER_LAYERS: Mapping[ServiceType, frozenset[Layer]] = MappingProxyType(
    {
        # A 4.1: only the hardware platform and the network infrastructure are the
        # provider's. A 5.5 says "only the hardware part"; the 4.1 matrix is the specific
        # rule and names the network too, so it wins.
        ServiceType.DEDICATED: frozenset({Layer.HARDWARE, Layer.NETWORK}),
        # B 4.1: everything except the customer's own data.
        ServiceType.OBJECT_STORAGE: frozenset(Layer) - {Layer.DATA},
    }
)


def provider_is_responsible(service_type: ServiceType, layer: Layer | None) -> bool:
    """Whether a failure of `layer` is the provider's to answer for.

    An unclassified layer (None) counts: the outage is on record (provider monitoring or
    the provider's own confirmation) and nobody has attributed it to the customer's side.
    """
    if layer is None:
        return True
    if type(service_type) is not ServiceType:  # a member already: no enum call
        service_type = ServiceType(service_type)
    return layer in PROVIDER_LAYERS[service_type]


def sla_applies(service: ServiceRecord) -> bool:
    """A 5.4: the dedicated SLA holds only in the provider's physical infrastructure.

    Object storage always sits at the provider's site (B 1), so its flag is not consulted.
    """
    if service.service_type is ServiceType.DEDICATED:
        return service.in_provider_dc
    return True
