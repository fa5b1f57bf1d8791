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


def set_image_remedy(ev: Evidence, why: str) -> Remedy | None:
    """`set_image` for the focus container: the previous revision's image when there is one, else a working image
    the responder names (the form asks for it); on a bare pod this sets the pod's own image, the one field of a
    pod's container that may change."""
    pinned = set_previous_image(ev)
    if pinned:
        return pinned[0]
    container = ev.focus_container
    spec = next((s for s in ev.workload.containers if s.name == container), None)
    if container is None or spec is None:
        return None
    where = " on the pod" if ev.workload.kind == "Pod" else ""
    params = {"container": container, "current": spec.image}
    return Remedy(RemedyId.SET_IMAGE, f"Set a working image for {container}{where}", params, why)
