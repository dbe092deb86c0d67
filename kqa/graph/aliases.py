"""Merged concepts (entity resolution) as a view over the raw edges, kept up to date as the graph changes.

Design: merges rewrite edges at *read* time. The raw edges (one per extracted or imported triple, as the documents
stated them) are never rewritten; an alias table `alias -> canonical` decides how they are shown. So

* unmerge is exact: dropping an alias shows the raw edges as they always were, whatever happened in between;
* merges survive updates: a document added later that mentions the alias is shown under the canonical name;
* nothing about a support is lost or has to be remembered twice.

Raw edge T = (h, r, t) is *touched* when h or t resolves to another name. Its resolved edge R = (resolve(h), r,
resolve(t)) may gather several raw edges (a *group*); a touched edge whose ends resolve to one name is hidden (a
merge does not create self-loops). Untouched edges, the vast majority, are their own resolved edge at no cost.
"""

from __future__ import annotations

from kqa.graph.model import ACTIVE, Changes, EdgeRecord, triple_id


class AliasIndex:
    """The alias table plus the groups of raw edges it induces. Changes are reported in resolved edge ids."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # alias -> the name it was merged into (which may be merged itself)
        self.members: dict[str, set[str]] = {}  # name -> aliases merged directly into it
        self.res_map: dict[str, str | None] = {}  # touched raw id -> resolved id (None: hidden self-loop)
        self.groups: dict[str, set[str]] = {}  # resolved id -> its raw ids, for resolved ids with a touched member

    # ---- names ---------------------------------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def closure(self, name: str) -> list[str]:
        """`name` and every name that resolves through it."""
        out, todo = [], [name]
        while todo:
            current = todo.pop()
            out.append(current)
            todo.extend(sorted(self.members.get(current, ())))
        return out

    def can_merge(self, alias: str, canonical: str) -> bool:
        return alias not in self.aliases and alias != canonical and self.resolve(canonical) != alias

    def add_alias(self, alias: str, canonical: str) -> None:
        self.aliases[alias] = canonical
        self.members.setdefault(canonical, set()).add(alias)

    def drop_alias(self, alias: str) -> None:
        canonical = self.aliases.pop(alias)
        self.members[canonical].discard(alias)
        if not self.members[canonical]:
            del self.members[canonical]

    # ---- edges ---------------------------------------------------------------------------------------------------
    def resolved_id(self, tid: str) -> str | None:
        """The id under which raw edge `tid` is shown (None: hidden)."""
        return self.res_map.get(tid, tid)

    def visible(self, rid: str, edges: dict[str, EdgeRecord]) -> bool:
        return rid in self.groups or (rid in edges and rid not in self.res_map)

    def park(self, tids) -> None:
        """Hide raw edges between `unindex` and `index` (while the alias table changes): a pending edge is not
        visible, so whichever of them is indexed first reports its resolved edge as created."""
        for tid in tids:
            self.res_map[tid] = None

    def index(self, tid: str, edges: dict[str, EdgeRecord], changes: Changes) -> None:
        """Raw edge `tid` (already in `edges`) starts to count."""
        self.res_map.pop(tid, None)  # parked
        if not self.aliases:
            changes.created(tid)
            return
        e = edges[tid]
        head, tail = self.resolve(e.head), self.resolve(e.tail)
        if head == e.head and tail == e.tail:  # untouched
            if tid in self.groups:
                self.groups[tid].add(tid)  # already visible through touched members
            else:
                changes.created(tid)
            return
        rid = None if head == tail else triple_id(head, e.relation, tail)
        self.res_map[tid] = rid
        if rid is None:
            return
        was_visible = self.visible(rid, edges)
        group = self.groups.setdefault(rid, set())
        if not group and rid in edges and rid not in self.res_map:
            group.add(rid)  # the canonical's own raw edge joins the group
        group.add(tid)
        if not was_visible:
            changes.created(rid)

    def unindex(self, tid: str, changes: Changes) -> None:
        """Raw edge `tid` stops counting (call before deleting it from the raw edges)."""
        if tid in self.res_map:
            rid = self.res_map.pop(tid)
            if rid is None:
                return
        else:
            rid = tid
        group = self.groups.get(rid)
        if group is None:
            changes.deleted(rid)
            return
        group.discard(tid)
        if not group:
            del self.groups[rid]
            changes.deleted(rid)
        elif group == {rid}:
            del self.groups[rid]  # only the untouched raw edge is left: it shows as itself

    # ---- reading -------------------------------------------------------------------------------------------------
    def status(self, rid: str, edges: dict[str, EdgeRecord]) -> str:
        statuses = [edges[t].status for t in self.groups[rid]]
        return ACTIVE if ACTIVE in statuses else min(statuses)

    def adjust_counts(self, edges: dict[str, EdgeRecord], relations: dict[str, int]) -> int:
        """Correct raw per-relation counts to resolved ones (in place); returns how many raw edges are not shown."""
        hidden = 0
        for tid, rid in self.res_map.items():
            if rid is None:
                relations[edges[tid].relation] -= 1
                hidden += 1
        for rid, group in self.groups.items():
            relations[edges[next(iter(group))].relation] -= len(group) - 1
            hidden += len(group) - 1
        return hidden
