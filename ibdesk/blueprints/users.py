"""The Users & user groups tab: groups and their rights on the left, accounts on the right.

Every change needs a fresh sign-in (the password typed again within five minutes) and is
written to the system log with its before and after.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from ibdesk import web
from ibdesk.blueprints import checks_own_length, go, is_htmx, signin
from ibdesk.errors import UserError
from ibdesk.forms.users import (
    ActiveDirectoryForm,
    EditUserForm,
    GroupForm,
    PasswordForm,
    RightsForm,
    UserForm,
)
from ibdesk.forms.wizard import AdminUserForm
from ibdesk.i18n import gettext as _
from ibdesk.models import UserAccount, UserGroup
from ibdesk.users import accounts, adaccounts, adcheck, directory, groups, lists, recovery
from ibdesk.users.passwords import PasswordRejected

bp = Blueprint("users", __name__, url_prefix="/users")
# Every page of the tab needs the password typed again within the last minutes.
bp.before_request(signin.stale_answer)


def _group_choices(session: Session) -> list[tuple[str, str]]:
    return [(g.name, g.name) for g in groups.list_groups(session)]


def _render(session: Session, status: int = 200, **extra: Any) -> tuple[str, int]:
    search = request.values.get("q", "")[:100]
    try:
        page = int(request.values.get("page", "1"))
    except ValueError:
        page = 1
    choices = _group_choices(session)
    user_form = extra.pop("user_form", None) or UserForm(formdata=None)
    user_form.groups.choices = choices
    context = {
        "groups": groups.list_groups(session),
        "listing": lists.list_users(session, search, page),
        "search": search,
        "user_form": user_form,
        "group_form": extra.pop("group_form", None) or GroupForm(formdata=None),
        "labels": groups.RIGHT_LABELS,
        "describe": groups.description_text,
        **extra,
    }
    template = "users/_tab.html" if is_htmx() else "users/index.html"
    return render_template(template, **context), status


def _account(user_id: int) -> tuple[Session, UserAccount]:
    """Return the request's session and the account the URL names (404 when it is gone)."""
    session = web.db_session()
    user = session.get(UserAccount, user_id)
    if user is None:
        raise accounts.NotFound(_("That account no longer exists."))
    return session, user


def _end_sessions_of(user: UserAccount) -> None:
    me = signin.current()
    if me is None or me.user_id != user.id:
        signin.store().end_user(user.id)


def _done(session: Session, message: str) -> tuple[str, int]:
    session.commit()
    return _render(session, answer=("success", message))


def create_account(
    session: Session, form: UserForm | AdminUserForm, **options: Any
) -> UserAccount | None:
    """Create the account the form names, or put the refusal under its field and return None."""
    try:
        return accounts.create_user(
            session,
            form.username.data or "",
            form.password.data or "",
            actor=web.actor(),
            display_name=form.display_name.data or "",
            **options,
        )
    except UserError as error:
        session.rollback()
        wrong = form.password if isinstance(error, PasswordRejected) else form.username
        wrong.errors = [*wrong.errors, str(error)]
        return None


@bp.get("/")
def index() -> tuple[str, int]:
    """Show the groups and one page of the accounts."""
    return _render(web.db_session())


@bp.get("/list")
def listing() -> str:
    """Answer one page of accounts matching the search (the list partial)."""
    session = web.db_session()
    search = request.args.get("q", "")[:100]
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    return render_template(
        "users/_users.html", listing=lists.list_users(session, search, page), search=search
    )


@bp.post("/add")
def add_submit() -> tuple[str, int]:
    """Create a local account."""
    session = web.db_session()
    form = UserForm()
    form.groups.choices = _group_choices(session)
    if not form.validate_on_submit():
        return _render(session, 422, user_form=form)
    user = create_account(session, form, groups=list(form.groups.data or []))
    if user is None:
        return _render(session, 422, user_form=form)
    return _done(session, _("The account %(name)s was created.", name=user.username))


@bp.get("/<int:user_id>/edit")
def edit(user_id: int) -> str:
    """Show an account's edit form (full name, groups, password, lock)."""
    session, user = _account(user_id)
    form = EditUserForm(formdata=None, display_name=user.display_name)
    form.groups.choices = _group_choices(session)
    form.groups.data = [g.name for g in user.groups]
    return render_template(
        "users/_edit.html",
        user=user,
        form=form,
        password_form=PasswordForm(formdata=None),
        logins=lists.recent_logins(session, user.username),
        locked=accounts.is_locked(user),
    )


@bp.post("/<int:user_id>/edit")
def edit_submit(user_id: int) -> tuple[str, int]:
    """Save an account's full name and groups."""
    session, user = _account(user_id)
    form = EditUserForm()
    form.groups.choices = _group_choices(session)
    if not form.validate_on_submit():
        message = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        raise UserError(message or _("Check the form and try again."))
    accounts.edit_user(
        session,
        web.actor(),
        user.username,
        display_name=form.display_name.data or "",
        groups=list(form.groups.data or []),
    )
    _end_sessions_of(user)  # their rights may have changed: they sign in again
    return _done(session, _("The account %(name)s was saved.", name=user.username))


@bp.post("/<int:user_id>/password")
def password_submit(user_id: int) -> tuple[str, int]:
    """Give an account a new password (which also unlocks it)."""
    session, user = _account(user_id)
    form = PasswordForm()
    if not form.validate_on_submit():
        raise UserError(_("Type a password."))
    accounts.set_password(session, web.actor(), user.username, form.password.data or "")
    _end_sessions_of(user)
    return _done(session, _("%(name)s has a new password.", name=user.username))


@bp.post("/<int:user_id>/<any(disable, enable, delete, unlock):action>")
def action_submit(user_id: int, action: str) -> tuple[str, int]:
    """Disable, enable, delete (or disable, when it has history) or unlock an account."""
    session, user = _account(user_id)
    name, actor = user.username, web.actor()
    if action == "unlock":
        accounts.unlock(session, actor, name)
        return _done(session, _("%(name)s is unlocked.", name=name))
    if action == "enable":
        accounts.set_active(session, actor, name, True)
        return _done(session, _("%(name)s is enabled.", name=name))
    _end_sessions_of(user)
    if action == "disable":
        accounts.set_active(session, actor, name, False)
        return _done(session, _("%(name)s is disabled.", name=name))
    done = accounts.delete_user(session, actor, name)
    if done == "disabled":
        message = _(
            "%(name)s has history in the logs, so the account was disabled, not erased.", name=name
        )
        return _done(session, message)
    return _done(session, _("%(name)s was deleted.", name=name))


@bp.post("/groups/add")
def group_add_submit() -> tuple[str, int]:
    """Create a user group with its rights."""
    session = web.db_session()
    form = GroupForm()
    if not form.validate_on_submit():
        return _render(session, 422, group_form=form)
    group = groups.create_group(
        session,
        web.actor(),
        form.name.data or "",
        form.description.data or "",
        tuple(form.rights.data or ()),
    )
    return _done(session, _("The user group %(name)s was created.", name=group.name))


@bp.post("/groups/<int:group_id>/rights")
def group_rights_submit(group_id: int) -> tuple[str, int]:
    """Give a group exactly the rights ticked."""
    session = web.db_session()
    group = session.get(UserGroup, group_id)
    if group is None:
        raise accounts.NotFound(_("That user group no longer exists."))
    form = RightsForm()
    if not form.validate_on_submit():
        raise UserError(_("Choose rights from the list."))
    groups.set_rights(session, web.actor(), group.name, set(form.rights.data or ()))
    signin.store().end_all_but(signin.current())
    return _done(session, _("The rights of %(name)s were saved.", name=group.name))


@bp.post("/recovery/acknowledge")
def acknowledge_submit() -> BaseResponse:
    """Acknowledge the administrator recoveries the Overview shows."""
    session = web.db_session()
    recovery.acknowledge(session, web.actor())
    session.commit()
    return go(url_for("home.index"))


CA_MAX_BYTES = 64 * 1024


def _ca_pem(form: ActiveDirectoryForm, old: directory.ADSettings) -> str:
    upload = form.ca_file.data
    if upload is not None and getattr(upload, "filename", None):
        data = upload.stream.read(CA_MAX_BYTES + 1)
        upload.stream.seek(0)  # read again when the test retries without group look-ups
        if len(data) > CA_MAX_BYTES:
            raise UserError(_("A CA certificate file is at most 64 kB."))
        try:
            return data.decode("ascii").strip()
        except UnicodeDecodeError:
            raise UserError(
                _("The CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----).")
            ) from None
    return old.ca_pem if form.keep_ca.data else ""


def _ad_form_settings(
    session: Session, form: ActiveDirectoryForm, *, lookups: bool = True
) -> directory.ADSettings:
    old = directory.load_settings(session)
    servers = tuple(s.strip() for s in (form.servers.data or "").replace("\n", ",").split(","))
    settings = dataclasses.replace(
        old,
        enabled=bool(form.enabled.data),
        servers=tuple(s for s in servers if s),
        security=directory.PLAIN if form.insecure.data else form.security.data or directory.LDAPS,
        port=form.port.data or 0,
        ca_pem=_ca_pem(form, old),
        base_dn=(form.base_dn.data or "").strip(),
        upn_suffix=(form.upn_suffix.data or "").strip(),
        bind_user=(form.bind_user.data or "").strip(),
    )
    settings = directory.check_settings(settings)  # before any look-up uses them
    if not lookups:
        return dataclasses.replace(settings, mappings=())
    mappings = adaccounts.parse_mappings(
        session,
        dataclasses.replace(settings, enabled=True),
        form.mappings.data or "",
        password=form.bind_password.data or None,
    )
    return dataclasses.replace(settings, mappings=mappings)


def _render_ad(form: ActiveDirectoryForm, status: int = 200, **extra: Any) -> tuple[str, int]:
    if "stored_ca" not in extra:
        extra["stored_ca"] = directory.load_settings(web.db_session())
    template = "users/_ad.html" if is_htmx() else "users/ad.html"
    return render_template(template, form=form, **extra), status


@bp.get("/ad")
def ad() -> tuple[str, int]:
    """Show the Active Directory settings."""
    settings = directory.load_settings(web.db_session())
    form = ActiveDirectoryForm(
        formdata=None,
        enabled=settings.enabled,
        servers=", ".join(settings.servers),
        security=directory.LDAPS if settings.insecure else settings.security,
        insecure=settings.insecure,
        port=settings.port or None,
        keep_ca=bool(settings.ca_pem),
        base_dn=settings.base_dn,
        upn_suffix=settings.upn_suffix,
        bind_user=settings.bind_user,
        mappings=adaccounts.mapping_text(settings),
    )
    return _render_ad(form, stored_password=bool(directory.load_password()), stored_ca=settings)


@bp.post("/ad")
@checks_own_length("mappings")  # up to the form's 20 000 characters: a line per AD group
def ad_submit() -> tuple[str, int]:
    """Save the Active Directory settings (and the lookup password, on this computer)."""
    session = web.db_session()
    form = ActiveDirectoryForm()
    if not form.validate_on_submit():
        return _render_ad(form, 422)
    try:
        settings = _ad_form_settings(session, form)
        directory.save_settings(session, web.actor(), settings, form.bind_password.data or None)
    except UserError as error:
        session.rollback()
        return _render_ad(form, 422, answer=("error", str(error)))
    session.commit()
    message = _("The Active Directory settings were saved.")
    return _render_ad(form, answer=("success", message), stored_password=True)


@bp.post("/ad/test")
@checks_own_length("mappings")
def ad_test_submit() -> tuple[str, int]:
    """Test the settings in the form (saved or not), one line per stage."""
    session = web.db_session()
    form = ActiveDirectoryForm()
    if not form.validate_on_submit():
        return render_template("users/_ad_test.html", stages=[], form=form), 422
    try:
        try:
            settings = directory.check_settings(_ad_form_settings(session, form))
        except directory.DirectoryError:
            # A group name could not be looked up: the stages say why (TCP, TLS, bind...).
            settings = directory.check_settings(_ad_form_settings(session, form, lookups=False))
    except UserError as error:
        stages = [adcheck.Stage(_("Settings"), False, str(error))]
        return render_template("users/_ad_test.html", stages=stages), 422
    names = {g.name for g in groups.list_groups(session)}
    stages = adcheck.test_connection(
        settings, names, form.test_user.data or "", form.bind_password.data or None
    )
    return render_template("users/_ad_test.html", stages=stages), 200
