"""skiffctl's rendering of API errors (skiff.cli.failures.error_text) as kubectl's CheckErr does."""

from __future__ import annotations

from skiff.api import errors, kinds
from skiff.api.validation import FieldError, invalid, invalid_error, required
from skiff.cli.failures import error_text, list_error


def test_most_errors_say_the_reason_and_the_file_being_processed() -> None:
    assert error_text(errors.NotFound('pods "web" not found')) == 'Error from server (NotFound): pods "web" not found'
    assert error_text(errors.NotFound('namespaces "x" not found'), when='creating "web.yaml"') == \
        'Error from server (NotFound): error when creating "web.yaml": namespaces "x" not found'


def test_an_invalid_object_is_named_with_its_cause_and_no_file() -> None:
    exc = invalid_error("Deployment", "apps", "web",
                        [invalid("spec.replicas", -1, "must be greater than or equal to 0")])
    assert error_text(exc, when='creating "web.yaml"') == \
        'The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'


def test_several_causes_are_listed_one_per_line() -> None:
    causes: list[FieldError] = [invalid("spec.replicas", -1, "must be greater than or equal to 0"),
                                required("spec.selector", ""),
                                invalid("metadata.labels", "a, b", "a, b: not a label, as it has a comma"),
                                required("spec.selector", "")]  # a repeated cause is said once
    assert error_text(invalid_error("Pod", "", "p", causes)) == (
        'The Pod "p" is invalid: \n'
        "* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n"
        "* spec.selector: Required value\n"
        '* metadata.labels: Invalid value: "a, b": a, b: not a label, as it has a comma')


def test_the_details_survive_the_trip_through_grpc_metadata() -> None:
    exc = invalid_error("Pod", "", "p", [required("spec.containers", "")])
    back = errors.Invalid.with_details(exc.message, exc.details())
    assert (back.kind, back.name, back.causes) == ("Pod", "p", ("spec.containers: Required value",))
    assert errors.Invalid.with_details("m", b"not json").causes == ()


def test_an_invalid_error_without_details_names_what_its_message_names() -> None:
    assert error_text(errors.Invalid("the body is not right")) == "The request is invalid: the body is not right"
    assert error_text(errors.Invalid('Binding "p" is invalid: target.name: Required value')) == \
        'The Binding "p" is invalid: target.name: Required value'


def test_a_refused_list_names_the_resource_and_the_selectors_as_kubectl() -> None:
    pods, deployments = kinds.lookup("pods"), kinds.lookup("deployments")
    refused = list_error(errors.BadRequest("unable to parse requirement: found '', expected: ',' or ')'"), pods,
                         label_selector="a in (b")
    assert isinstance(refused, errors.BadRequest)
    assert error_text(refused) == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "a in (b", '
        "field selector \"\": unable to parse requirement: found '', expected: ',' or ')'")
    assert str(list_error(errors.NotFound("gone"), deployments)) == \
        'Unable to list "apps/v1, Resource=deployments": gone'
    conflict = errors.Conflict("x")
    assert list_error(conflict, pods, label_selector="a") is conflict
