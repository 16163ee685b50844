"""What every explorer shares: controls, ``set``, ``state``/``figure``, error display, notebook display."""

from __future__ import annotations

import html
import numbers

import ipywidgets as widgets


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

    def _check_controls(
        self,
        values: dict,
        extra: tuple[str, ...] = (),
        *,
        labels: dict | None = None,
        bounds: dict | None = None,
    ) -> dict:
        """Check control values with :func:`check_control`; return them as the controls hold them.

        Args:
            values: Control name -> value.
            extra: Names the caller handles itself (not controls); left out of the result.
            labels: Control name -> the name to use in messages (a constructor's argument name).
            bounds: Control name -> ``(min, max)`` replacing the widget's own (e.g. the layers
                of a model that is being switched to in the same call).
        """
        unknown = sorted(set(values) - set(self.controls) - set(extra))
        if unknown:
            also = f" and {', '.join(repr(e) for e in extra)}" if extra else ""
            raise ValueError(f"Unknown control(s) {unknown}; controls are {sorted(self.controls)}{also}.")
        labels, bounds = labels or {}, bounds or {}
        return {
            name: check_control(labels.get(name, name), self.controls[name], value, bounds.get(name))
            for name, value in values.items()
            if name not in extra
        }

    def _set_controls(self, values: dict, extra: tuple[str, ...] = (), **kwargs) -> None:
        """Check control values, then assign them without an update per control (the caller
        updates once). Nothing is assigned unless every value is valid. Arguments as in
        :meth:`_check_controls`."""
        for name, value in self._check_controls(values, extra, **kwargs).items():
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


def check_int(name: str, value, minimum: int, also: str = "") -> None:
    """Refuse anything but an int >= ``minimum`` (bools too) for a constructor argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{' ' + also if also else ''}; got {value!r}.")


def check_control(name: str, control, value, bounds: tuple | None = None):
    """``value`` if ``control`` can hold it exactly; else a ``ValueError`` with the valid values.

    The one validation of explorer values, for constructors and :meth:`Explorer.set` alike.
    ipywidgets would otherwise clamp out-of-range numbers to the slider's end and cast floats
    to ints without a word (``p=0`` shown as 0.05, ``window=2.7`` as 2).

    Args:
        name: The name to put in the message.
        control: The ipywidget (slider, bounded text, dropdown, toggle buttons, checkbox, text).
        value: The value to check.
        bounds: ``(min, max)`` to use instead of the control's own.

    Returns:
        The value as the control holds it (numpy numbers as Python numbers).
    """
    if isinstance(control, (widgets.Dropdown, widgets.ToggleButtons)):
        options = [o[1] if isinstance(o, tuple) else o for o in control.options]
        if not any(type(value) is type(o) and value == o for o in options):  # 1 is not True
            raise ValueError(f"{name} must be one of {options}; got {value!r}.")
        return value
    if isinstance(control, widgets.Checkbox | widgets.ToggleButton):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False; got {value!r}.")
        return value
    if isinstance(control, widgets.Text):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a str; got {value!r}.")
        return value
    low, high = bounds if bounds is not None else (control.min, control.max)
    if isinstance(control, (widgets.IntSlider, widgets.BoundedIntText)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
            raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value!r}.")
        return int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not low <= value <= high  # False for NaN too
    ):
        raise ValueError(f"{name} must be a number in [{low}, {high}]; got {value!r}.")
    return float(value)
