"""Route groups of the device edge; each module exposes `routes: list[EdgeRoute]`."""
