import pytest

from gapexplore import Chemistry, InvalidParameterError


@pytest.mark.parametrize("element, radius, bonding",
                         [("B", 0.84, "covalent"), ("C", 0.76, "covalent"),
                          ("Si", 1.11, "covalent"), ("Ti", 1.47, "metallic")])
def test_paper_radii_and_bonding(element, radius, bonding):
    chem = Chemistry.of(element)
    assert chem.radius == pytest.approx(radius)
    assert chem.bonding == bonding


def test_heuristics_follow_the_paper():
    si = Chemistry.of("Si")
    assert si.volume_per_atom == pytest.approx(14.5 * 1.11**3)
    assert si.min_separation == pytest.approx(1.8 * 1.11)
    ti = Chemistry.of("Ti")
    assert ti.volume_per_atom == pytest.approx(5.5 * 1.47**3)


def test_overrides():
    chem = Chemistry.of("Ti", bonding="covalent")
    assert chem.bonding == "covalent" and chem.radius == pytest.approx(1.60)
    assert Chemistry.of("Si", radius=1.2).radius == 1.2


@pytest.mark.parametrize("kwargs, words", [
    (dict(element="Xx"), "'element' parameter"),
    (dict(element="si"), "'element' parameter"),
    (dict(element="Si", radius=-1.0), "'radius' parameter"),
    (dict(element="Si", radius=11.1), "'radius' parameter"),
    (dict(element="Si", radius=float("nan")), "'radius' parameter"),
    (dict(element="Si", bonding="ionic"), "'bonding' parameter"),
    (dict(element="Si", bonding="metallic"), "no metallic radius of Si"),
])
def test_bad_input_is_explained(kwargs, words):
    with pytest.raises(InvalidParameterError, match=words):
        Chemistry.of(**kwargs)


def test_error_is_a_value_error():
    with pytest.raises(ValueError):
        Chemistry("Si", 0.0, "covalent")
