"""The request context's DataLoaders: built on first use, one per request, never shared between requests."""

from __future__ import annotations

from conftest import MakePerson

from graph.driver import Graph
from schema.context import Context


async def test_loaders_are_built_on_first_use_and_kept_for_the_request(graph: Graph, make_person: MakePerson) -> None:
    a = await make_person()
    context = Context(graph=graph)
    assert "person" not in vars(context.loaders)  # nothing built until a resolver asks
    loader = context.loaders.person
    assert context.loaders.person is loader and set(vars(context.loaders)) >= {"person"}
    assert "consents" not in vars(context.loaders)
    [found] = await loader.load_many([a.id])
    assert found is not None and found.id == a.id


async def test_each_request_gets_its_own_loaders_and_cache(graph: Graph, make_person: MakePerson) -> None:
    a = await make_person()
    first, second = Context(graph=graph), Context(graph=graph)
    assert first.loaders is not second.loaders
    assert first.loaders.person is not second.loaders.person
    await first.loaders.person.load(a.id)
    assert first.loaders.person.cache_map.get(a.id) is not None
    assert second.loaders.person.cache_map.get(a.id) is None
