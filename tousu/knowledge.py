"""The knowledge base: categories, departments, routing, evidence, escalation, deadlines.

Everything here is read from the TOML files in ``tousu/kb/`` (a compliance
officer reviews those, not this code) and validated when loaded: a dangling
reference or an unknown certainty stops start-up with a message that names
the file and the entry.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tousu.errors import KnowledgeError

DEFAULT_DIR = Path(__file__).parent / "kb"
CERTAINTIES = ("VERIFIED", "PARTIAL", "UNVERIFIED", "POLICY")
CERTAINTY_LABELS = {
    "VERIFIED": "已核实",
    "PARTIAL": "部分核实",
    "UNVERIFIED": "未核实",
    "POLICY": "公司内部目标",
}
UNITS = ("calendar", "working", "hours")
SERVICE_CLASSES = ("交易类", "服务类")
APPLIES_TO = ("any", "consumer", "merchant")


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    name_en: str
    role: str


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    name_en: str
    description: str
    co_handler: str | None = None
    sellers: tuple[str, ...] = ()
    shops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Brand:
    id: str
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class DeadlineRule:
    id: str
    name: str
    unit: str
    certainty: str
    basis: str
    source: str
    pausable: bool
    days: int = 0
    hours: int = 0
    extension_days: int = 0
    max_days: int = 0

    @property
    def certainty_label(self) -> str:
        return CERTAINTY_LABELS[self.certainty]


@dataclass(frozen=True)
class Body:
    id: str
    name: str
    short: str
    contact: str
    scope: str
    applies_to: str
    deadline: DeadlineRule | None
    certainty: str
    note: str
    source: str

    def applies(self, complainant: str) -> bool:
        """Whether a complainant of this type ("consumer", "merchant" or "unknown") may turn here."""
        return self.applies_to == "any" or complainant in (self.applies_to, "unknown")


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    name_en: str
    priority: int
    department: str
    service_class: str
    cause: str
    statutory_deadline: DeadlineRule
    major: bool
    evidence: tuple[str, ...]
    self_help: tuple[str, ...]
    escalation: tuple[Body, ...]


@dataclass(frozen=True)
class Company:
    name: str
    short_name: str
    hotline: str
    hotline_certainty: str
    hotline_source: str
    kind: str
    complaint_head_role: str
    internal_steps: tuple[tuple[str, str], ...]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per load
class KnowledgeBase:
    company: Company
    departments: dict[str, Department]
    channels: dict[str, Channel]
    brands: dict[str, Brand]
    rules: dict[str, DeadlineRule]
    bodies: dict[str, Body]
    categories: dict[str, Category]
    source_dir: Path = field(compare=False)
    acquisition_verbs: tuple[str, ...] = ()

    def department_name(self, department_id: str) -> str:
        return self.departments[department_id].name

    def route(self, category_id: str, channel_id: str = "unknown") -> list[str]:
        """Departments for a complaint: the primary one first, then co-handlers.

        A third-party channel adds channel management as co-handler (GUIDELINE.md §3).
        """
        departments = [self.categories[category_id].department]
        co_handler = self.channels[channel_id].co_handler if channel_id in self.channels else None
        if co_handler and co_handler not in departments:
            departments.append(co_handler)
        return departments

    def ladder(self, category_id: str, complainant: str = "unknown") -> list[Body]:
        """The outside bodies for a category, in order, that accept this complainant type."""
        return [b for b in self.categories[category_id].escalation if b.applies(complainant)]


def _read(directory: Path, name: str) -> dict:
    path = directory / name
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: 知识库文件缺失") from None
    except tomllib.TOMLDecodeError as e:
        raise KnowledgeError(f"{path}: TOML 格式错误: {e}") from None


def _entries(data: dict, key: str, where: str) -> list[dict]:
    entries = data.get(key)
    if not isinstance(entries, list) or not entries:
        raise KnowledgeError(f"{where}: 缺少 [[{key}]] 条目")
    ids = [e.get("id") for e in entries]
    if any(not isinstance(i, str) or not i for i in ids):
        raise KnowledgeError(f"{where}: 每个 [[{key}]] 条目都需要 id")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise KnowledgeError(f"{where}: id 重复: {', '.join(duplicates)}")
    return entries


def _build(cls, entry: dict, where: str, **overrides):
    values = {**entry, **overrides}
    try:
        return cls(**values)
    except TypeError as e:
        raise KnowledgeError(f"{where} [{entry.get('id', '?')}]: {e}") from None


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise KnowledgeError(message)


def _load_rules(directory: Path) -> dict[str, DeadlineRule]:
    where = str(directory / "deadlines.toml")
    rules = {}
    for e in _entries(_read(directory, "deadlines.toml"), "rule", where):
        rule = _build(DeadlineRule, e, where)
        _check(rule.unit in UNITS, f"{where} [{rule.id}]: unit 必须是 {UNITS} 之一")
        _check(rule.certainty in CERTAINTIES, f"{where} [{rule.id}]: certainty 必须是 {CERTAINTIES} 之一")
        _check(bool(rule.source), f"{where} [{rule.id}]: 每条期限都要注明来源 source")
        _check(
            rule.max_days == 0 or rule.max_days >= rule.days,
            f"{where} [{rule.id}]: max_days 不能小于 days",
        )
        rules[rule.id] = rule
    return rules


def _load_bodies(directory: Path, rules: dict[str, DeadlineRule]) -> dict[str, Body]:
    where = str(directory / "bodies.toml")
    bodies = {}
    for e in _entries(_read(directory, "bodies.toml"), "body", where):
        rule_id = e.get("deadline", "")
        _check(not rule_id or rule_id in rules, f"{where} [{e['id']}]: 未知期限规则 {rule_id!r}")
        body = _build(Body, e, where, deadline=rules.get(rule_id) if rule_id else None)
        _check(body.applies_to in APPLIES_TO, f"{where} [{body.id}]: applies_to 必须是 {APPLIES_TO} 之一")
        _check(body.certainty in CERTAINTIES, f"{where} [{body.id}]: certainty 必须是 {CERTAINTIES} 之一")
        _check(bool(body.source), f"{where} [{body.id}]: 每个外部机构都要注明来源 source")
        bodies[body.id] = body
    return bodies


def _load_categories(directory, departments, rules, bodies) -> dict[str, Category]:
    where = str(directory / "categories.toml")
    categories = {}
    for e in _entries(_read(directory, "categories.toml"), "category", where):
        cid = e["id"]
        _check(e.get("department") in departments, f"{where} [{cid}]: 未知部门 {e.get('department')!r}")
        _check(e.get("statutory_deadline") in rules, f"{where} [{cid}]: 未知期限规则")
        unknown = [b for b in e.get("escalation", []) if b not in bodies]
        _check(not unknown, f"{where} [{cid}]: 未知外部机构 {unknown}")
        category = _build(
            Category,
            e,
            where,
            statutory_deadline=rules[e["statutory_deadline"]],
            evidence=tuple(e.get("evidence", ())),
            self_help=tuple(e.get("self_help", ())),
            escalation=tuple(bodies[b] for b in e.get("escalation", ())),
        )
        _check(category.service_class in SERVICE_CLASSES, f"{where} [{cid}]: service_class 无效")
        _check(bool(category.evidence), f"{where} [{cid}]: 需要至少一项证据 evidence")
        categories[cid] = category
    priorities = sorted(c.priority for c in categories.values())
    _check(priorities == list(range(1, len(categories) + 1)), f"{where}: priority 必须是 1..N 且不重复")
    return dict(sorted(categories.items(), key=lambda item: item[1].priority))


def _load_company(directory: Path, departments: dict[str, Department]) -> tuple[Company, dict]:
    where = str(directory / "company.toml")
    data = _read(directory, "company.toml")
    renames = data.get("department_names", {})
    unknown = [d for d in renames if d not in departments]
    _check(not unknown, f"{where}: [department_names] 中有未知部门 {unknown}")
    steps = tuple((s["id"], s["name"]) for s in data.get("internal_step", ()))
    company = _build(Company, data.get("company", {}), where, internal_steps=steps)
    _check(company.kind in ("payment_institution", "bank"), f"{where}: kind 必须是 payment_institution 或 bank")
    return company, renames


def load(directory: Path | str | None = None) -> KnowledgeBase:
    """Load and validate the knowledge base.

    Parameters
    ----------
    directory:
        A folder with the TOML files; the packaged ``tousu/kb`` when omitted.

    Returns
    -------
    KnowledgeBase
        Raises :class:`tousu.errors.KnowledgeError` naming the file and entry on any problem.
    """
    directory = Path(directory) if directory else DEFAULT_DIR
    departments = {
        e["id"]: _build(Department, e, "departments.toml")
        for e in _entries(_read(directory, "departments.toml"), "department", "departments.toml")
    }
    company, renames = _load_company(directory, departments)
    for dep_id, name in renames.items():
        departments[dep_id] = Department(dep_id, name, departments[dep_id].name_en, departments[dep_id].role)
    channel_data = _read(directory, "channels.toml")
    channels = {
        e["id"]: _build(
            Channel, e, "channels.toml", sellers=tuple(e.get("sellers", ())), shops=tuple(e.get("shops", ()))
        )
        for e in _entries(channel_data, "channel", "channels.toml")
    }
    for channel in channels.values():
        _check(
            channel.co_handler is None or channel.co_handler in departments,
            f"channels.toml [{channel.id}]: 未知协办部门 {channel.co_handler!r}",
        )
    brands = {
        e["id"]: _build(Brand, e, "brands.toml", aliases=tuple(e.get("aliases", ())))
        for e in _entries(_read(directory, "brands.toml"), "brand", "brands.toml")
    }
    rules = _load_rules(directory)
    bodies = _load_bodies(directory, rules)
    categories = _load_categories(directory, departments, rules, bodies)
    verbs = tuple(channel_data.get("acquisition_verbs", ()))
    return KnowledgeBase(company, departments, channels, brands, rules, bodies, categories, directory, verbs)


@cache
def default() -> KnowledgeBase:
    """The packaged knowledge base, loaded once per process."""
    return load()
