"""Every write to the people database (convention 1): one transaction, an audit entry, a timeline
entry on the person, side effects after commit.

`actor` is the official (or member/donor) acting, or None for system flows (a donation or a
join arriving from a public page), which `find_or_create_person` serves.

Topic modules (docs/adr/0015-actions-packages.md); import from them, not from this package:
  scope: Territorial scope of an official's writes, and requests to reach another territory.
  person: Creating and editing a person: contacts, tags, timeline.
  consent: Consents given and withdrawn.
  duplicates: Duplicates: detection, dismissal and merging.
  segments: Saved segments.
  imports: Importing people from spreadsheets, in batches.
  exports: Exports of people.
  _records: Writes on a person's record shared by creation, merging and imports: scope guard, contacts, tags,
      snapshots.
"""
