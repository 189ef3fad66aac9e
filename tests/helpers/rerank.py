"""Drive the Search page's re-rank component (pages/_rerank.py) from AppTest, as the browser would.

AppTest cannot run the component's JavaScript; these send what it sends: the settled weights and strategy (a state
value) or a card's action (a trigger value), in the next run's widget states. The browser side is tested in
Chromium (tests/test_browser.py) and against the library's vectors with Node (tests/test_fusion_js.py).
"""

from __future__ import annotations

import json
from typing import Any

from streamlit.components.v2.bidi_component.main import _make_trigger_id

KEY = "search-rr"


def component(at) -> Any:
    found = [e for e in at.get("bidi_component") if getattr(e, "key", None) == KEY]
    assert found, "the Search page's results component is not on the page"
    return found[0]


def payload(at) -> dict[str, Any]:
    """The data the page sent the browser on the last run."""
    return json.loads(component(at).proto.json)


def send(at, *, settled: dict[str, Any] | None = None, action: dict[str, Any] | None = None):
    """Run the app once more with the component's new state and/or trigger, as a browser message would carry them."""
    el = component(at)
    tree = at._tree
    states = tree.get_widget_states

    def with_component():
        ws = states()
        if settled is not None:
            state = ws.widgets.add()
            state.id = el.proto.id
            state.json_value = json.dumps({"settled": settled})
        if action is not None:
            trigger = ws.widgets.add()
            trigger.id = _make_trigger_id(el.proto.id, "events")
            trigger.json_trigger_value = json.dumps([{"event": "action", "value": action}])
        return ws

    tree.get_widget_states = with_component
    return at.run()


def settle(at, weights: dict[str, float], strategy: str | None = None):
    """The browser settled on these weights (and strategy; default the page's), a new move number each time."""
    data = payload(at)
    return send(at, settled={"seq": data["seq"] + 1, "weights": weights, "strategy": strategy or data["strategy"]})


def titles(at) -> list[str]:
    """The titles of the Search page's results for the view Python sent (its own ranking of the settled view)."""
    data = payload(at)
    return [data["items"][p]["title"] for p in data["server"].get("positions", [])]
