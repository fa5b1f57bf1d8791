"""Remedies that several branches offer, built from the rollout history.

Branch modules do not import each other; what they share lives here.
"""

from __future__ import annotations

from runbooks.model import Evidence, Remedy, RemedyId


def previous_image(ev: Evidence, container: str | None) -> str | None:
    """The focus container's image in the previous revision, when the current revision changed it."""
    rollout = ev.rollout
    if rollout is None or rollout.previous is None or rollout.current is None or container is None:
        return None
    before = rollout.previous.images.get(container)
    return before if before and before != rollout.current.images.get(container) else None


def set_previous_image(ev: Evidence) -> tuple[Remedy, ...]:
    """`set_image` back to the previous revision's image, or nothing when the image did not change."""
    container = ev.focus_container
    image = previous_image(ev, container)
    if image is None or container is None:
        return ()
    params = {"container": container, "image": image}
    return (Remedy(RemedyId.SET_IMAGE, f"Pin image {image}", params, "the previous revision's image"),)


def rollout_undo(ev: Evidence) -> Remedy | None:
    """`rollout_undo` to the previous revision, naming what it brings back."""
    rollout = ev.rollout
    if rollout is None or rollout.previous is None:
        return None
    prev = rollout.previous
    images = ", ".join(sorted(set(prev.images.values())))
    params = {"to_revision": prev.number, "images": dict(prev.images)}
    title = f"Roll back to revision {prev.number} ({images})"
    return Remedy(RemedyId.ROLLOUT_UNDO, title, params, "the crash began with the current revision")
