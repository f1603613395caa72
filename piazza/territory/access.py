"""Guards for back-office views: logged in, an official, 2FA verified (rule G4), in scope."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from piazza.territory.scoping import is_official, scope_paths

View = Callable[..., HttpResponse]


def official_required(roles: Iterable[str] | None = None) -> Callable[[View], View]:
    """Only officials with a verified second factor, holding one of `roles` somewhere, get in.

    No personal data is ever rendered before 2FA: an official without a device is sent to
    set one up, one with a device to enter a code.
    """
    role_set = set(roles) if roles is not None else None

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user: Any = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_official(user):
                raise PermissionDenied
            if not user.is_verified():
                from django_otp import devices_for_user

                has_device = any(True for _ in devices_for_user(user, confirmed=True))
                target = "web:otp_verify" if has_device else "web:otp_setup"
                return redirect(f"{_reverse(target)}?next={request.get_full_path()}")
            if role_set is not None and not scope_paths(user, role_set):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _reverse(name: str) -> str:
    from django.urls import reverse

    return reverse(name)
