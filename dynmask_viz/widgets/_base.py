"""What every explorer shares: controls, ``set``, ``state``/``figure``, error display, notebook display."""

from __future__ import annotations

import html


class Explorer:
    """Base of the explorers: plain classes that tests and notebooks drive the same way.

    Subclasses set ``self.controls`` (name -> ipywidget), ``self.widget`` (what to display),
    ``self._messages`` (an ``ipywidgets.HTML`` for errors), ``self._state`` and
    ``self._figure``, and implement :meth:`update`.
    """

    _hold = False  # True while several controls change at once: one update at the end

    @property
    def state(self):
        """Snapshot of what is shown; always matches :attr:`figure`."""
        return self._state

    @property
    def figure(self):
        """The current matplotlib ``Figure`` (e.g. ``explorer.figure.savefig("view.svg")``)."""
        return self._figure

    def update(self):
        raise NotImplementedError

    def _set_controls(self, values: dict, extra: tuple[str, ...] = ()) -> None:
        """Assign control values without an update per control (the caller updates once)."""
        unknown = sorted(set(values) - set(self.controls) - set(extra))
        if unknown:
            also = f" and {', '.join(repr(e) for e in extra)}" if extra else ""
            raise ValueError(f"Unknown control(s) {unknown}; controls are {sorted(self.controls)}{also}.")
        for name, value in values.items():
            if name not in extra:
                self.controls[name].value = value

    def _on_change(self, change) -> None:
        if self._hold:
            return
        try:
            self.update()
        except Exception as exc:  # a callback must not die silently: say what went wrong
            self._messages.value = f"<b style='color:#b00'>Could not update:</b> {html.escape(str(exc))}"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
