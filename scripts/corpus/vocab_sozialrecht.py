"""Vocabulary for the domain ``sozialrecht`` (SGB II, SGB XII, SGB X)."""

DOMAIN = "sozialrecht"

STATUTES = ["SGB II", "SGB XII", "SGB X", "SGB I", "SGG"]

SOURCES = ["Bundesagentur für Arbeit", "Bundesministerium für Arbeit und Soziales", "Sozialgericht",
           "Landessozialgericht", "Bundessozialgericht", "Sozialamt", "Jobcenter"]

ACTORS = [
    ("ein Leistungsberechtigter", "der Leistungsberechtigte"), ("eine Leistungsberechtigte", "die Leistungsberechtigte"),
    ("eine alleinerziehende Mutter", "die alleinerziehende Mutter"), ("ein Rentner", "der Rentner"),
    ("ein Jobcenter", "das Jobcenter"), ("ein Sozialamt", "das Sozialamt"),
    ("eine Bedarfsgemeinschaft", "die Bedarfsgemeinschaft"), ("ein Aufstocker", "der Aufstocker"),
    ("ein Student", "der Student"), ("eine Sozialberaterin", "die Sozialberaterin"),
]

SITUATIONS = [
    "Das Jobcenter hat die Kosten der Unterkunft nur teilweise übernommen.",
    "Der Bürgergeld-Bescheid wurde rückwirkend aufgehoben.",
    "Wegen eines versäumten Termins wurde eine Leistungsminderung verhängt.",
    "Die Rente reicht nicht aus, um den Lebensunterhalt zu decken.",
    "Ein Kind ist in die Bedarfsgemeinschaft zurückgezogen.",
    "Die Waschmaschine ist defekt und muss ersetzt werden.",
    "Es liegt ein Erstattungsbescheid über 1.800 Euro vor.",
    "Neben dem Bürgergeld wird ein Minijob ausgeübt.",
    "Die Heizkostennachzahlung beträgt mehrere hundert Euro.",
    "Das Sozialamt verlangt den Einsatz eines Sparbuchs.",
    "Der Weiterbewilligungsantrag wurde verspätet gestellt.",
    "Eine dauerhaft erwerbsgeminderte Person beantragt Grundsicherung.",
]

TOPICS = [
    dict(thing="den Anspruch auf Bürgergeld", refs=["§ 7 SGB II", "§ 19 SGB II"], kw="Bürgergeld",
         core=["Leistungen nach dem SGB II erhalten nach § 7 SGB II erwerbsfähige Personen zwischen 15 Jahren und der Altersgrenze, die hilfebedürftig sind und ihren gewöhnlichen Aufenthalt in Deutschland haben.",
               "Das Bürgergeld umfasst nach § 19 SGB II den Regelbedarf, Mehrbedarfe sowie den Bedarf für Unterkunft und Heizung.",
               "Nicht erwerbsfähige Mitglieder der Bedarfsgemeinschaft erhalten ebenfalls Bürgergeld, soweit kein Anspruch nach dem SGB XII besteht."]),
    dict(thing="die Kosten der Unterkunft und Heizung", refs=["§ 22 SGB II", "§ 35 SGB XII"], kw="Unterkunft",
         core=["Bedarfe für Unterkunft und Heizung werden nach § 22 SGB II in Höhe der tatsächlichen Aufwendungen anerkannt, soweit diese angemessen sind.",
               "Im ersten Jahr des Leistungsbezugs gilt eine Karenzzeit, in der die tatsächlichen Unterkunftskosten übernommen werden.",
               "Übersteigen die Kosten die Angemessenheitsgrenze, fordert das Jobcenter zur Kostensenkung auf und übernimmt sie in der Regel noch bis zu sechs Monate."]),
    dict(thing="die Hilfebedürftigkeit und das Vermögen", refs=["§ 9 SGB II", "§ 12 SGB II"], kw="Vermögen",
         core=["Hilfebedürftig ist nach § 9 SGB II, wer seinen Lebensunterhalt nicht ausreichend aus eigenem Einkommen und Vermögen sichern kann.",
               "Nach § 12 SGB II bleibt während der Karenzzeit Vermögen bis 40.000 Euro für die erste Person und 15.000 Euro für jede weitere Person unberücksichtigt.",
               "Eine selbst genutzte Wohnung oder ein angemessenes Kraftfahrzeug gehören zum Schonvermögen."]),
    dict(thing="die Anrechnung von Einkommen", refs=["§ 11 SGB II", "§ 11b SGB II"], kw="Einkommen",
         core=["Als Einkommen sind nach § 11 SGB II alle Einnahmen in Geld zu berücksichtigen, soweit sie nicht ausdrücklich ausgenommen sind.",
               "Vom Erwerbseinkommen wird nach § 11b SGB II ein Grundfreibetrag von 100 Euro sowie ein prozentualer Erwerbstätigenfreibetrag abgesetzt.",
               "Einmalige Einnahmen werden im Zuflussmonat oder verteilt auf sechs Monate angerechnet."]),
    dict(thing="eine Leistungsminderung", refs=["§ 31 SGB II", "§ 31a SGB II"], kw="Leistungsminderung",
         core=["Bei Pflichtverletzungen wie der Weigerung, eine zumutbare Arbeit aufzunehmen, kann das Bürgergeld nach §§ 31, 31a SGB II gemindert werden.",
               "Eine Minderung setzt voraus, dass die leistungsberechtigte Person schriftlich über die Rechtsfolgen belehrt wurde und keinen wichtigen Grund hat.",
               "Vor einer Leistungsminderung ist der leistungsberechtigten Person Gelegenheit zur persönlichen Anhörung zu geben."]),
    dict(thing="die Hilfe zum Lebensunterhalt in der Sozialhilfe", refs=["§ 27 SGB XII", "§ 2 SGB XII"], kw="Sozialhilfe",
         core=["Hilfe zum Lebensunterhalt nach § 27 SGB XII erhalten Personen, die ihren notwendigen Lebensunterhalt nicht aus eigenen Kräften und Mitteln bestreiten können.",
               "Nach dem Nachranggrundsatz des § 2 SGB XII erhält Sozialhilfe nicht, wer sich selbst helfen kann oder die Hilfe von Angehörigen oder anderen Sozialleistungsträgern erhält.",
               "Zuständig ist der örtliche Träger der Sozialhilfe, in der Regel das Sozialamt der Stadt oder des Kreises."]),
    dict(thing="die Grundsicherung im Alter und bei Erwerbsminderung", refs=["§ 41 SGB XII", "§ 43 SGB XII"], kw="Grundsicherung",
         core=["Grundsicherung nach § 41 SGB XII erhalten Personen, die die Altersgrenze erreicht haben oder dauerhaft voll erwerbsgemindert sind.",
               "Unterhaltsansprüche gegenüber Kindern werden nach § 43 SGB XII erst ab einem Jahreseinkommen von 100.000 Euro berücksichtigt.",
               "Die Leistungen werden in der Regel für zwölf Monate bewilligt."]),
    dict(thing="den Leistungsbescheid", refs=["§ 33 SGB X", "§ 35 SGB X"], kw="Leistungsbescheid",
         core=["Der Leistungsbescheid ist ein Verwaltungsakt, der nach § 33 SGB X inhaltlich hinreichend bestimmt sein muss.",
               "Nach § 35 SGB X ist ein schriftlicher Bescheid zu begründen; der Berechnungsbogen muss nachvollziehbar sein.",
               "Leistungen nach dem SGB II werden in der Regel für zwölf Monate bewilligt; danach ist ein Weiterbewilligungsantrag nötig."]),
    dict(thing="die Aufhebung und Erstattung von Leistungen", refs=["§ 45 SGB X", "§ 48 SGB X", "§ 50 SGB X"], kw="Erstattung",
         core=["Ein rechtswidriger begünstigender Bescheid kann nach § 45 SGB X nur zurückgenommen werden, wenn kein schutzwürdiges Vertrauen besteht.",
               "Ändern sich die Verhältnisse, etwa durch Aufnahme einer Arbeit, wird der Bescheid nach § 48 SGB X für die Zukunft aufgehoben.",
               "Zu Unrecht erbrachte Leistungen sind nach § 50 SGB X zu erstatten; das Jobcenter kann mit laufenden Leistungen aufrechnen."]),
    dict(thing="die Überprüfung eines bestandskräftigen Bescheids", refs=["§ 44 SGB X"], kw="Überprüfungsantrag",
         core=["Mit einem Überprüfungsantrag nach § 44 SGB X kann auch ein bestandskräftiger Bescheid korrigiert werden, wenn das Recht unrichtig angewandt wurde.",
               "Im SGB II werden Leistungen dabei für längstens ein Jahr rückwirkend nachgezahlt.",
               "Der Überprüfungsantrag ist formlos möglich und sollte den fehlerhaften Bescheid genau bezeichnen."]),
    dict(thing="den Widerspruch gegen einen Bescheid des Jobcenters", refs=["§ 84 SGG", "§ 86a SGG"], kw="Widerspruch",
         core=["Der Widerspruch ist nach § 84 SGG innerhalb eines Monats nach Bekanntgabe schriftlich oder zur Niederschrift beim Jobcenter einzulegen.",
               "Widerspruch und Klage gegen Aufhebungs- und Erstattungsbescheide haben nach § 39 SGB II keine aufschiebende Wirkung.",
               "Das Verfahren vor dem Sozialgericht ist für Leistungsberechtigte gerichtskostenfrei."]),
    dict(thing="Mehrbedarfe und einmalige Bedarfe", refs=["§ 21 SGB II", "§ 24 SGB II"], kw="Mehrbedarf",
         core=["Mehrbedarfe nach § 21 SGB II werden etwa für Schwangere, Alleinerziehende oder bei kostenaufwändiger Ernährung anerkannt.",
               "Erstausstattungen für die Wohnung und bei Schwangerschaft werden nach § 24 Abs. 3 SGB II gesondert erbracht.",
               "Ein unabweisbarer Bedarf, etwa der Ersatz einer defekten Waschmaschine, wird nach § 24 Abs. 1 SGB II in der Regel als Darlehen gewährt."]),
]

QUESTIONS = [
    "Was gilt für {thing}?",
    "Welche Voraussetzungen muss {actor} für {thing} erfüllen?",
    "Wie berechnet das Jobcenter {thing}?",
    "Welche Rolle spielt {ref} für {thing}?",
    "{situation} Was kann {actor} in Bezug auf {thing} unternehmen?",
    "{situation} Welche Regeln gelten für {thing}?",
    "Perspektive {actor_noun}: Was bedeutet {ref} im Alltag?",
    "Welche Unterlagen braucht {actor}, wenn es um {thing} geht?",
    "{situation} Was folgt daraus nach {ref}?",
    "Kann {actor} sich gegen eine Entscheidung über {thing} wehren?",
    "Welche Fristen sind in Bezug auf {thing} zu beachten?",
    "Wie unterscheiden sich SGB II und SGB XII in Bezug auf {thing}?",
]

OPENERS = [
    "{Actor_def} sollte hier vor allem {ref} kennen.",
    "Maßgeblich ist hier {ref}.",
    "Die Antwort ergibt sich aus dem Sozialrecht, insbesondere aus {ref}.",
    "{Actor_def} sollte die Berechnung anhand von {ref} genau prüfen.",
    "Rechtsgrundlage ist {ref}.",
    "Im Sozialrecht gilt der Grundsatz der Bedarfsdeckung; einschlägig ist {ref}.",
]

PROCEDURE = [
    "Leistungen nach dem SGB II werden nur auf Antrag erbracht; der Antrag wirkt auf den Ersten des Monats zurück.",
    "Zuständig für das Bürgergeld ist das Jobcenter, für Sozialhilfe und Grundsicherung das Sozialamt.",
    "Leistungsberechtigte haben nach § 60 SGB I Mitwirkungspflichten und müssen Änderungen unverzüglich mitteilen.",
    "Fehlende Mitwirkung kann nach § 66 SGB I zur Versagung der Leistung führen, allerdings erst nach schriftlicher Belehrung.",
    "Nach § 14 SGB I besteht ein Anspruch auf Beratung über Rechte und Pflichten.",
    "Kontoauszüge, Mietvertrag und Einkommensnachweise gehören regelmäßig zu den geforderten Unterlagen.",
    "In Eilfällen kann beim Sozialgericht einstweiliger Rechtsschutz nach § 86b SGG beantragt werden.",
    "Unabhängige Sozialberatungsstellen helfen kostenlos bei der Prüfung von Bescheiden.",
]

CLOSERS = [
    "Der Widerspruch muss innerhalb eines Monats nach Bekanntgabe des Bescheids eingehen.",
    "Es lohnt sich, jeden Leistungsbescheid genau nachzurechnen.",
    "Bei Unklarheiten hilft eine Sozialberatung oder ein Fachanwalt für Sozialrecht.",
    "Eingereichte Unterlagen sollten immer mit Eingangsstempel quittiert werden.",
    "Wer Änderungen verschweigt, riskiert Rückforderungen und ein Bußgeld.",
    "",
]
