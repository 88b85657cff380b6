"""The recruiters' page: evaluate a CV (pasted or a file), follow it to its result with the
explanation and the nearest past candidates, list, export and erase the board's submissions.
Server-rendered (Jinja escapes every value, CV text included); no script at all."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.orm import selectinload
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from api import intake, validation
from api.accounts import PageUser, SignInForm, csrf, recruiter
from api.auth import limit_address
from api.errors import ApiError
from api.files import upload_text
from api.listing import Filters, export_csv, find
from api.resources import read_session, resources
from api.validation import NewSubmission
from shared.db import Submission, new_id
from shared.retention import erase_one
from shared.users import record, verify

recruiters = Blueprint("recruiters", __name__, url_prefix="/app")
recruiters.before_request(limit_address)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@recruiters.before_request
def check_csrf() -> None:
    if request.method == "POST":
        csrf.protect()


@recruiters.after_request
def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@recruiters.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    form, error = SignInForm(), ""
    if form.validate_on_submit():
        res = resources()
        try:
            res.limits.check_sign_in(request.remote_addr or "unknown", form.email.data or "")
        except ApiError as exc:
            return render_template("app/sign_in.html", form=form, error=exc.message), 429
        found = verify(res.sessions, form.email.data or "", form.password.data or "")
        if found is not None:
            login_user(PageUser(found))
            record(res.sessions, found, "sign_in")
            return redirect(url_for("recruiters.evaluate"))
        error = "Wrong e-mail or password, or the account is disabled."
    return render_template("app/sign_in.html", form=form, error=error), 401 if error else 200


@recruiters.post("/sign-out")
@login_required
def sign_out() -> ResponseReturnValue:
    record(resources().sessions, recruiter(), "sign_out")
    logout_user()
    return redirect(url_for("recruiters.sign_in"))


class EvaluateForm(FlaskForm):
    cv = TextAreaField("CV text", validators=[Optional()])
    file = FileField("or a CV file (PDF, DOCX or text)")
    position = SelectField("Position", validate_choice=True)
    external_id = StringField("Your reference (optional)", validators=[Optional(), Length(max=200)])


def _evaluate_form() -> EvaluateForm:
    form = EvaluateForm()
    titles = resources().catalogue.titles()
    form.position.choices = [("", "(the one named in the CV)"), *((t, t) for t in titles)]
    return form


def _submission(form: EvaluateForm) -> NewSubmission:
    """The form as a submission: the same checks as the API's, files included."""
    settings = resources().settings
    upload = form.file.data
    text = form.cv.data or ""
    if upload and upload.filename:
        if text.strip():
            raise ApiError(400, "invalid_request", "paste the CV or upload a file, not both")
        text = upload_text(upload, settings)
    try:
        return validation.submission({"cv": text, "position": form.position.data or None,
                                      "external_id": form.external_id.data or None}, settings)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc).replace("'cv'", "the CV")) from None


@recruiters.route("/", methods=["GET", "POST"])
@login_required
def evaluate() -> ResponseReturnValue:
    form = _evaluate_form()
    if not form.validate_on_submit():
        invalid = request.method == "POST"
        return render_template("app/evaluate.html", form=form, error=""), 400 if invalid else 200
    res, who = resources(), recruiter()
    try:
        item = _submission(form)
        res.limits.check_queue(read_session(), who.board_id, 1)
        sid = new_id()
        intake.persist([item], [sid], who.board_id, submitted_by=who.id)
    except ApiError as exc:
        return render_template("app/evaluate.html", form=form, error=exc.message), exc.status
    intake.enqueue_ids([sid])
    record(res.sessions, who, "submit", sid)
    return redirect(url_for("recruiters.result", submission_id=sid))


def _own(submission_id: str) -> Submission:
    if not validation.ID_RE.fullmatch(submission_id):
        abort(404)
    found = find(resources().sessions, recruiter().board_id, Filters(), ids=[submission_id],
                 options=[selectinload(Submission.result), selectinload(Submission.neighbours)])
    if not found:
        abort(404)
    return found[0]


@recruiters.get("/submissions/<submission_id>")
@login_required
def result(submission_id: str) -> ResponseReturnValue:
    return render_template("app/result.html", s=_own(submission_id))


@recruiters.post("/submissions/<submission_id>/erase")
@login_required
def erase_submission(submission_id: str) -> ResponseReturnValue:
    """The same erasure as the API's DELETE, recorded with the recruiter who asked for it."""
    if not validation.ID_RE.fullmatch(submission_id) or not erase_one(
            resources().sessions, recruiter().board_id, submission_id):
        abort(404)
    record(resources().sessions, recruiter(), "erase", submission_id)
    flash("The submission, its CV text and its result were erased.")
    return redirect(url_for("recruiters.submissions"))


@recruiters.get("/submissions")
@login_required
def submissions() -> ResponseReturnValue:
    filters = Filters.from_args(request.args)
    rows = find(resources().sessions, recruiter().board_id, filters, limit=filters.page + 1,
                options=[selectinload(Submission.result)])
    return render_template("app/submissions.html", rows=rows[:filters.page], filters=filters,
                           more=rows[filters.page - 1].id if len(rows) > filters.page else None,
                           positions=resources().catalogue.titles())


@recruiters.get("/submissions.csv")
@login_required
def submissions_csv() -> ResponseReturnValue:
    filters = Filters.from_args(request.args)
    record(resources().sessions, recruiter(), "export", filters.describe())
    body = export_csv(resources().sessions, recruiter().board_id, filters)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="submissions.csv"'})
