"""URLs that act: a button posts to them. Followed as a link (a bookmark, a pasted address,
a reload of a result), they change nothing and say what their button does."""

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse


def action_page(
    request: HttpRequest, *, title: str, does: str, back: str, back_label: str
) -> HttpResponse:
    """405 with a page naming what the action does and a way back to the page whose button
    does it. It names no object: the id in the URL is never looked up, so a GET tells
    nobody whether another person's request or token exists."""
    response = render(
        request,
        "core/action.html",
        {"title": title, "does": does, "back_url": reverse(back), "back_label": back_label},
        status=405,
    )
    response["Allow"] = "POST"
    return response


def post_only(
    *, title: str, does: str, back: str, back_label: str
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Like Django's require_POST, with `action_page` instead of an empty 405."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method != "POST":
                return action_page(
                    request, title=title, does=does, back=back, back_label=back_label
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
