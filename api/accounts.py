"""Recruiters signing in to the page: Flask-Login sessions, Flask-WTF CSRF tokens.

The session cookie is signed, HttpOnly, SameSite=Strict and Secure in production (set in
`create_app`). The user is re-read on every request, so disabling a user or revoking their
board signs them out at once.
"""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from api.resources import resources
from shared.users import Recruiter, active_recruiter

login_manager = LoginManager()
login_manager.login_view = "recruiters.sign_in"
login_manager.login_message = ""
csrf = CSRFProtect()


class PageUser(UserMixin):
    def __init__(self, recruiter: Recruiter) -> None:
        self.recruiter = recruiter

    def get_id(self) -> str:
        return str(self.recruiter.id)


@login_manager.user_loader
def load_user(user_id: str) -> PageUser | None:
    if not user_id.isdigit():
        return None
    found = active_recruiter(resources().sessions, int(user_id))
    return PageUser(found) if found else None


def recruiter() -> Recruiter:
    """The signed-in recruiter (call only behind `login_required`)."""
    return current_user.recruiter  # type: ignore[no-any-return]


class SignInForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


def init_accounts(app: Flask) -> None:
    # CSRF is checked by the page's blueprint only: the JSON API authenticates by header.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    login_manager.init_app(app)
    csrf.init_app(app)
