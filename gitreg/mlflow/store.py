"""``GitregStore``: MLflow's model registry ``AbstractStore`` over a gitreg ``Registry``.

Every abstract method maps to the Registry method of the same name; the adapter only
converts entities, turns GitregErrors into MlflowExceptions, and follows MLflow's store
contract where the gitreg API is deliberately friendlier (``create_model_version`` needs an
existing model; deleting a missing tag or alias is a no-op). A model whose manifest is
invalid is never served (#22): a read of it raises its finding as an MlflowException
(RESOURCE_CONFLICT, the code every refusal travels as), and searches leave it out.
Prompts, ``copy_model_version`` and the await helper are MLflow's own concrete methods
built on these, and searches leave prompts out by MLflow's own rule
(``search.search_registered_models(mlflow_prompts=True)``); webhooks are gitreg.yaml's
subscriptions (``gitreg.mlflow.webhooks``, issue 13). Behind ``mlflow server`` each write is
authored by the caller the server authenticated (``gitreg.mlflow.caller``, #25).
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.entities.model_registry import RegisteredModel as MlflowRegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.prompt.constants import IS_PROMPT_TAG_KEY, PROMPT_TEXT_TAG_KEY
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore

from gitreg.core import search
from gitreg.core.entities import RegisteredModel, Stage
from gitreg.core.errors import (
    GitregError,
    ModelAlreadyExists,
    NotARegistry,
)
from gitreg.core.fields import MAX_TAG_VALUE_LENGTH, check_tag_key, check_tag_value, parse_version
from gitreg.core.names import check_name
from gitreg.mlflow.caller import Callers, current
from gitreg.mlflow.convert import (
    mlflow_errors,
    registry_path,
    to_model_version,
    to_registered_model,
)
from gitreg.mlflow.webhooks import WebhookMethods
from gitreg.registry import Registry

_log = logging.getLogger(__name__)
# The version tag an MLflow client passes a known artifact digest in (#28).
DIGEST_TAG = "gitreg.digest"
_MLFLOW_ALIAS = re.compile(r"^[\w\-]+$")  # mlflow.utils.validation._REGISTERED_MODEL_ALIAS_REGEX
# MLflow's contract tests run a store that is not its SQL store with this set, and give the
# time a model is created as this tag (mlflow-go's hook; tests/store/model_registry).
_TEST_CLOCK_ENV = "MLFLOW_GO_STORE_TESTING"
_TEST_CLOCK_TAG = "mock.time.go.testing.tag"


def _is_prompt(tags: Any) -> bool:
    return str(tags.get(IS_PROMPT_TAG_KEY, "")).lower() == "true"


def _check_alias_name(name: str, alias: str) -> None:
    """MLflow checks an alias's form (its own, looser one) before looking the model up."""
    check_name(name)
    if not isinstance(alias, str) or not _MLFLOW_ALIAS.fullmatch(alias):
        raise MlflowException(f"Invalid alias name: {alias!r}", INVALID_PARAMETER_VALUE)


def _check_version_tag(key: str, value: Any) -> None:
    """MLflow's checks of a version tag, with its words for a prompt template too long."""
    key = check_tag_key(key)
    if key == PROMPT_TEXT_TAG_KEY and isinstance(value, str) and len(value) > MAX_TAG_VALUE_LENGTH:
        raise MlflowException(
            f"Prompt text exceeds max length of {MAX_TAG_VALUE_LENGTH} characters.",
            INVALID_PARAMETER_VALUE,
        )
    check_tag_value(key, value)


def _test_clock(tags: dict[str, Any]) -> Callable[[], int] | None:
    """The creation time MLflow's contract tests give a model, when they run this store.

    MLflow's registry-store tests pin a model's creation time by patching its SQL store's
    clock; for any other store they set MLFLOW_GO_STORE_TESTING and pass the time as the
    tag ``mock.time.go.testing.tag`` instead (mlflow-go's protocol), which the store takes as
    its clock and does not keep. Outside those tests the tag is an ordinary tag.
    """
    if os.environ.get(_TEST_CLOCK_ENV, "").lower() not in ("true", "1"):
        return None
    value = tags.pop(_TEST_CLOCK_TAG, None)
    if value is None:
        return None
    moment = int(value)
    return lambda: moment


class GitregStore(WebhookMethods, AbstractStore):
    """MLflow's registry store for ``gitreg:///path/to/registry``: every change is a commit.

    Behind ``mlflow server``, each change is authored by the person the server
    authenticated (``gitreg.mlflow.caller``), the server's git identity committing it.
    """

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)  # type: ignore[no-untyped-call]
        self.store_uri = store_uri
        self.tracking_uri = tracking_uri
        self.callers = Callers.from_env(os.environ)
        try:
            self._registry = Registry(registry_path(store_uri))
        except NotARegistry as e:  # the plugin's argument is the URI, not a path (#16)
            hint = "use gitreg:///absolute/path/to/a/registry"
            message = e.message.replace("give the path of a registry", hint)
            raise MlflowException(
                f"Registry URI {store_uri!r}: {message}", INVALID_PARAMETER_VALUE
            ) from e

    @property
    def registry(self) -> Registry:  # type: ignore[override]
        """The registry, writing as the current request's caller (see ``caller``)."""
        author = current(self.callers)
        return self._registry if author is None else self._registry.acting_as(author)

    # ---------------------------------------------------------- registered models

    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> MlflowRegisteredModel:
        # deployment_job_id is a Databricks feature; MLflow's own SQL store ignores it too.
        wanted = {t.key: t.value for t in tags or ()}
        registry = self.registry
        clock = _test_clock(wanted)
        if clock is not None:
            registry = registry.acting_as(registry.author, clock)
        try:
            with mlflow_errors():
                model = registry.create_registered_model(name, wanted, description)
        except MlflowException as e:
            if isinstance(e.__cause__, ModelAlreadyExists):
                self._name_taken(name, wanted)
            raise
        return to_registered_model(model)

    def _name_taken(self, name: str, tags: dict[str, Any]) -> None:
        """MLflow's words when a model or prompt takes a name another one has (#16)."""
        from mlflow.prompt.registry_utils import handle_resource_already_exist_error

        try:
            existing = self.registry.get_registered_model(name)
        except GitregError:
            return  # taken by a name of another case: gitreg's own message says so
        handle_resource_already_exist_error(name, _is_prompt(existing.tags), _is_prompt(tags))

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> MlflowRegisteredModel:
        with mlflow_errors():
            return to_registered_model(self.registry.update_registered_model(name, description))

    def rename_registered_model(self, name: str, new_name: str) -> MlflowRegisteredModel:
        with mlflow_errors():
            return to_registered_model(self.registry.rename_registered_model(name, new_name))

    def delete_registered_model(self, name: str) -> None:
        with mlflow_errors():
            self.registry.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[MlflowRegisteredModel]:
        with mlflow_errors():
            models = self._valid_models()
            found = search.search_registered_models(
                models,
                filter_string,
                search.SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT
                if max_results is None
                else max_results,
                order_by,
                page_token,
                mlflow_prompts=True,  # prompts only when asked for, as MLflow's store
            )
        return PagedList([to_registered_model(m) for m in found], found.token)

    def _valid_models(self) -> list[RegisteredModel]:
        """Every model a read may serve; each one left out is logged with its finding.

        MLflow's search has no place for "this model exists but is invalid", and failing
        the whole search would hide every valid model from the UI; reading the invalid
        model by name raises its finding (#22).
        """
        reading = self._registry.store.read_registry(self._registry.at)
        for refused in reading.refused:
            _log.warning("gitreg: not listed, %s", refused.message)
        return reading.models

    def get_registered_model(self, name: str) -> MlflowRegisteredModel:
        with mlflow_errors():
            return to_registered_model(self.registry.get_registered_model(name))

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[MlflowModelVersion]:
        with mlflow_errors():
            found = self.registry.get_latest_versions(name, stages or None)
        return [to_model_version(mv) for mv in found]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        with mlflow_errors():
            self.registry.set_registered_model_tag(name, tag.key, tag.value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with mlflow_errors():
            self.registry.delete_registered_model_tag(name, key)

    # ------------------------------------------------------------------ versions

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> MlflowModelVersion:
        with mlflow_errors():  # MLflow's order: name, tags, source, then the model
            check_name(name)
            for tag in tags or ():
                _check_version_tag(tag.key, tag.value)
        location, run_id = self._resolve_source(source, run_id, model_id)
        values = {t.key: t.value for t in tags or ()}
        # A digest the job knows travels as a tag (MLflow has no argument for it, #28);
        # gitreg checks it against the artifact and records it as the version's digest.
        digest = values.pop(DIGEST_TAG, None)
        with mlflow_errors():
            mv = self.registry.create_model_version(
                name,
                source,
                run_id=run_id,
                tags=values,
                run_link=run_link,
                description=description,
                storage_location=location if location != source else None,
                create_model=False,  # MlflowClient does not create the model here
                digest=digest,
                tracking_uri=self.tracking_uri,
            )
        return to_model_version(mv)

    def _resolve_source(
        self, source: str, run_id: str | None, model_id: str | None
    ) -> tuple[str | None, str | None]:
        """(artifact location, run id) as MLflow's SQL store resolves a ``models:/`` source."""
        if urllib.parse.urlparse(source).scheme != "models":
            if not run_id and model_id:
                run_id = self._logged_model(model_id).source_run_id
            return None, run_id
        from mlflow.store.artifact.utils.models import _parse_model_uri

        try:
            parsed = _parse_model_uri(source)
            if parsed.model_id is not None:
                logged = self._logged_model(parsed.model_id)
                return logged.artifact_location, run_id or logged.source_run_id
            with mlflow_errors():
                mv = self.registry.get_version_for_uri(source)
            return mv.storage_location or mv.source, run_id
        except Exception as e:
            raise MlflowException(
                f"Unable to fetch model from model URI source artifact location '{source}'. "
                f"Error: {e}"
            ) from e

    def _logged_model(self, model_id: str) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri).get_logged_model(model_id)

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> MlflowModelVersion:
        with mlflow_errors():
            return to_model_version(self.registry.update_model_version(name, version, description))

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool
    ) -> MlflowModelVersion:
        if str(stage).lower() not in {s.value.lower() for s in Stage}:  # MLflow's words
            raise MlflowException(
                f"Invalid Model Version stage: {stage}. Value must be one of "
                f"{', '.join(s.value for s in Stage)}.",
                INVALID_PARAMETER_VALUE,
            )
        with mlflow_errors():
            mv = self.registry.transition_model_version_stage(
                name, version, stage, archive_existing_versions
            )
        return to_model_version(mv)

    def delete_model_version(self, name: str, version: int | str) -> None:
        with mlflow_errors():
            self.registry.delete_model_version(name, version)

    def get_model_version(self, name: str, version: int | str) -> MlflowModelVersion:
        with mlflow_errors():
            return to_model_version(self.registry.get_model_version(name, version))

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        with mlflow_errors():
            return self.registry.get_model_version_download_uri(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[MlflowModelVersion]:
        with mlflow_errors():
            names = search.exact_names(filter_string)
            models = [m for m in self._valid_models() if names is None or m.name in names]
            found = search.search_model_versions(
                models,
                filter_string,
                search.SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT
                if max_results is None
                else max_results,
                order_by,
                page_token,
                mlflow_prompts=True,  # prompts only when asked for, as MLflow's store
            )
        return PagedList([to_model_version(mv) for mv in found], found.token)

    def set_model_version_tag(self, name: str, version: int | str, tag: ModelVersionTag) -> None:
        with mlflow_errors():  # MLflow's store refuses a value of None (its client sends str)
            check_name(name)
            parse_version(version)
            _check_version_tag(tag.key, tag.value)
            self.registry.set_model_version_tag(name, version, tag.key, tag.value)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        with mlflow_errors():
            self.registry.delete_model_version_tag(name, version, key)

    # ------------------------------------------------------------------- aliases

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        with mlflow_errors():
            self.registry.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with mlflow_errors():
            _check_alias_name(name, alias)
            self.registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> MlflowModelVersion:
        with mlflow_errors():
            _check_alias_name(name, alias)
            model = self.registry.get_registered_model(name)
        if alias.lower() == "latest":
            if not model.versions:
                raise MlflowException(
                    f"Latest version not found for model {name}.", RESOURCE_DOES_NOT_EXIST
                )
            return to_model_version(max(model.versions, key=lambda mv: mv.version))
        with mlflow_errors():
            return to_model_version(self.registry.get_model_version_by_alias(name, alias))
