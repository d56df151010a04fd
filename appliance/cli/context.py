"""What every command receives: settings read once, and the data home."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from appliance.home import DataHome
from appliance.settings import Settings

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["AppContext", "pass_app"]


@dataclass
class AppContext:
    settings: Settings

    @property
    def home(self) -> DataHome:
        return DataHome(self.settings.home)

    def store(self) -> Database:
        """The migrated store of an initialised home (HomeError otherwise)."""
        from appliance.store.db import connect

        self.home.require_initialised()
        return connect(self.home.db_path)


pass_app = click.make_pass_decorator(AppContext)
