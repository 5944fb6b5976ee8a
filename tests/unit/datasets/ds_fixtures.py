"""Fixture documents for the dataset tests (seven small German administrative-law documents, one per topic)."""

DOCS = [
    {"id": "bau-1", "title": "§ 35 BauGB – Bauen im Außenbereich", "document_type": "gesetz", "domain": "baurecht",
     "date": "2019-05-01", "source": "Bundesgesetzblatt", "quality_score": 0.9,
     "text": "Im Außenbereich sind nach § 35 Abs. 1 BauGB nur privilegierte Vorhaben zulässig, etwa landwirtschaftliche "
             "Betriebe. Sonstige Vorhaben dürfen öffentliche Belange nicht beeinträchtigen, zum Beispiel durch eine "
             "Splittersiedlung."},
    {"id": "bau-2", "title": "Leitfaden Abstandsflächen", "document_type": "leitfaden", "domain": "baurecht",
     "date": "2021-03-10", "source": "Bauministerium", "quality_score": 0.7,
     "text": "Vor den Außenwänden von Gebäuden sind nach § 6 LBO Abstandsflächen freizuhalten. Grenzgaragen sind bis "
             "zu einer bestimmten Länge zulässig. Die Landesbauordnung regelt die Tiefe nach der Wandhöhe."},
    {"id": "steu-1", "title": "Säumniszuschlag nach § 240 AO", "document_type": "faq", "domain": "steuerrecht",
     "date": "2022-11-20", "source": "Finanzamt", "quality_score": 0.8,
     "text": "Wird eine Steuer nicht bis zum Ablauf des Fälligkeitstages entrichtet, entsteht nach § 240 AO ein "
             "Säumniszuschlag von einem Prozent des rückständigen Betrags für jeden angefangenen Monat."},
    {"id": "steu-2", "title": "Einspruch gegen den Steuerbescheid", "document_type": "urteil", "domain": "steuerrecht",
     "date": "2016-02-02", "source": "Finanzgericht", "quality_score": 0.5,
     "text": "Der Einspruch nach § 347 AO ist innerhalb eines Monats nach Bekanntgabe des Steuerbescheids einzulegen. "
             "Die Frist beginnt mit der Bekanntgabe, § 355 Abgabenordnung."},
    {"id": "soz-1", "title": "Bürgergeld und Unterkunftskosten", "document_type": "faq", "domain": "sozialrecht",
     "date": "2024-01-15", "source": "Jobcenter", "quality_score": 0.85,
     "text": "Das Jobcenter übernimmt nach § 22 SGB II die angemessenen Kosten für Miete und Heizung. Leistungen "
             "erhalten erwerbsfähige hilfebedürftige Personen nach § 7 SGB II."},
    {"id": "umw-1", "title": "Artenschutz bei Bauvorhaben", "document_type": "verwaltungsvorschrift",
     "domain": "umweltrecht", "date": "2020-08-08", "source": "Naturschutzbehörde", "quality_score": 0.6,
     "text": "Nach § 44 BNatSchG ist es verboten, wild lebende Tiere der besonders geschützten Arten zu töten. Eine "
             "Ausnahme nach § 45 Abs. 7 BNatSchG setzt zwingende Gründe voraus."},
    {"id": "vwv-1", "title": "Anhörung vor Erlass eines Verwaltungsakts", "document_type": "gesetz",
     "domain": "verwaltungsverfahren", "date": "2018-06-30", "source": "Bundesgesetzblatt", "quality_score": 0.95,
     "text": "Bevor ein Verwaltungsakt erlassen wird, der in Rechte eines Beteiligten eingreift, ist diesem nach "
             "§ 28 VwVfG Gelegenheit zu geben, sich zu den erheblichen Tatsachen zu äußern."},
]
