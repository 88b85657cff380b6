"""The operators' dashboard: the figures of `cvqueue status`, throughput and queue charts over
the last hours, workers and recent failures. Server-rendered; an operator signs in with an
operator key (kept as the key holder's id in a signed, HttpOnly, SameSite=Strict cookie,
checked against the database on every request: a revoked key is signed out)."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from api.auth import limit_address
from api.charts import bars
from api.resources import read_session, resources
from shared.keys import holder_of, is_active_operator
from shared.status import collect, history

dashboard = Blueprint("dashboard", __name__, url_prefix="/dashboard")
dashboard.before_request(limit_address)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'")


def _signed_in() -> bool:
    holder = session.get("operator")
    return isinstance(holder, int) and is_active_operator(resources().sessions, holder)


@dashboard.after_request
def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@dashboard.get("/")
def overview() -> ResponseReturnValue:
    if not _signed_in():
        return redirect(url_for("dashboard.sign_in"))
    res = resources()
    status = collect(res.sessions, res.broker, res.settings.queue)
    points = history(res.sessions)
    return render_template(
        "dashboard.html", s=status,
        throughput=bars([p.done for p in points], "CVs done per 10 minutes"),
        queue=bars([p.waiting for p in points], "CVs waiting", color="#d97706"))


@dashboard.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    error = ""
    if request.method == "POST":
        holder = holder_of(read_session(), request.form.get("key", "").strip())
        if holder is not None and holder.role == "operator":
            session.clear()
            session["operator"] = holder.id
            return redirect(url_for("dashboard.overview"))
        error = "That is not an active operator key."
    return render_template("sign_in.html", error=error), 401 if error else 200


@dashboard.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("dashboard.sign_in"))
