"""Vocabulary for the domain ``steuerrecht`` (AO, EStG, FGO)."""

DOMAIN = "steuerrecht"

STATUTES = ["AO", "EStG", "UStG", "FGO", "GewStG"]

SOURCES = ["Bundesministerium der Finanzen", "Finanzamt", "Finanzgericht", "Bundesfinanzhof",
           "Oberfinanzdirektion", "Steuerberaterkammer", "Landesamt für Steuern"]

ACTORS = [
    ("ein Steuerpflichtiger", "der Steuerpflichtige"), ("eine Steuerpflichtige", "die Steuerpflichtige"),
    ("ein Arbeitnehmer", "der Arbeitnehmer"), ("eine Selbständige", "die Selbständige"),
    ("ein Finanzamt", "das Finanzamt"), ("eine Steuerberaterin", "die Steuerberaterin"),
    ("ein Vermieter", "der Vermieter"), ("ein Rentner", "der Rentner"),
    ("ein Ehepaar", "das Ehepaar"), ("ein Gewerbetreibender", "der Gewerbetreibende"),
]

SITUATIONS = [
    "Das Finanzamt hat die Werbungskosten für das Arbeitszimmer nicht anerkannt.",
    "Der Steuerbescheid ist vor fünf Wochen eingegangen.",
    "Die Einkommensteuererklärung wurde mit drei Monaten Verspätung abgegeben.",
    "Das Finanzamt hat die Besteuerungsgrundlagen geschätzt.",
    "Nach Bestandskraft ist eine vergessene Spendenquittung aufgetaucht.",
    "Der Bescheid steht unter dem Vorbehalt der Nachprüfung.",
    "Es wurde eine Betriebsprüfung angekündigt.",
    "Die Steuernachzahlung kann nicht sofort bezahlt werden.",
    "Das Finanzamt hat Säumniszuschläge festgesetzt.",
    "Mieteinnahmen aus einer Ferienwohnung wurden nicht erklärt.",
    "Der Einspruch wurde vom Finanzamt als unbegründet zurückgewiesen.",
    "Ein Rentner hat erstmals eine Aufforderung zur Abgabe der Steuererklärung erhalten.",
]

TOPICS = [
    dict(thing="den Einspruch gegen einen Steuerbescheid", refs=["§ 347 AO", "§ 355 AO"], kw="Einspruch",
         core=["Gegen Steuerbescheide ist nach § 347 AO der Einspruch als außergerichtlicher Rechtsbehelf statthaft.",
               "Der Einspruch ist nach § 355 AO innerhalb eines Monats nach Bekanntgabe des Steuerbescheids beim Finanzamt einzulegen.",
               "Im Einspruchsverfahren prüft das Finanzamt die Sache nach § 367 AO in vollem Umfang erneut und kann den Bescheid auch verbösern."]),
    dict(thing="die Bekanntgabe des Steuerbescheids", refs=["§ 122 AO", "§ 124 AO"], kw="Steuerbescheid",
         core=["Ein per Post übermittelter Steuerbescheid gilt nach § 122 Abs. 2 AO am vierten Tag nach Aufgabe zur Post als bekannt gegeben.",
               "Der Steuerbescheid wird nach § 124 AO mit der Bekanntgabe wirksam.",
               "Bei elektronischer Bereitstellung gilt der Bescheid am vierten Tag nach Bereitstellung zum Abruf als bekannt gegeben."]),
    dict(thing="die Abgabe der Einkommensteuererklärung", refs=["§ 149 AO", "§ 25 EStG"], kw="Einkommensteuererklärung",
         core=["Die Einkommensteuer wird nach § 25 EStG nach Ablauf des Kalenderjahres auf Grundlage der Steuererklärung veranlagt.",
               "Steuererklärungen sind nach § 149 Abs. 2 AO grundsätzlich bis zum 31. Juli des Folgejahres abzugeben; mit Steuerberater gilt eine verlängerte Frist.",
               "Arbeitnehmer ohne Pflichtveranlagung können freiwillig eine Erklärung innerhalb von vier Jahren einreichen."]),
    dict(thing="den Verspätungszuschlag", refs=["§ 152 AO"], kw="Verspätungszuschlag",
         core=["Bei verspäteter Abgabe der Steuererklärung setzt das Finanzamt nach § 152 AO einen Verspätungszuschlag fest.",
               "Der Verspätungszuschlag beträgt für jeden angefangenen Monat der Verspätung 0,25 Prozent der festgesetzten Steuer, mindestens 25 Euro.",
               "Ergibt sich eine Erstattung oder eine Steuer von null Euro, liegt die Festsetzung eines Verspätungszuschlags im Ermessen des Finanzamts."]),
    dict(thing="die Änderung eines bestandskräftigen Steuerbescheids", refs=["§ 172 AO", "§ 173 AO"], kw="Änderung",
         core=["Nach § 173 Abs. 1 Nr. 2 AO ist ein Steuerbescheid zugunsten des Steuerpflichtigen zu ändern, wenn neue Tatsachen ohne grobes Verschulden nachträglich bekannt werden.",
               "Bescheide unter dem Vorbehalt der Nachprüfung nach § 164 AO können jederzeit geändert werden, solange die Festsetzungsfrist läuft.",
               "§ 172 AO erlaubt die Änderung auch mit Zustimmung des Steuerpflichtigen, wenn er sie vor Ablauf der Einspruchsfrist beantragt."]),
    dict(thing="die Schätzung von Besteuerungsgrundlagen", refs=["§ 162 AO"], kw="Schätzung",
         core=["Kann das Finanzamt die Besteuerungsgrundlagen nicht ermitteln oder berechnen, hat es sie nach § 162 AO zu schätzen.",
               "Eine Schätzung erfolgt häufig, wenn trotz Erinnerung keine Steuererklärung abgegeben wurde.",
               "Gegen den Schätzungsbescheid hilft der Einspruch zusammen mit der Nachreichung der Steuererklärung."]),
    dict(thing="die Festsetzungsverjährung", refs=["§ 169 AO", "§ 170 AO"], kw="Festsetzungsfrist",
         core=["Die Festsetzungsfrist beträgt nach § 169 Abs. 2 AO für die Einkommensteuer grundsätzlich vier Jahre.",
               "Bei leichtfertiger Steuerverkürzung verlängert sich die Frist auf fünf, bei Steuerhinterziehung auf zehn Jahre.",
               "Die Frist beginnt nach § 170 Abs. 2 AO bei Erklärungspflicht mit Ablauf des Jahres, in dem die Erklärung eingereicht wird, spätestens nach drei Jahren."]),
    dict(thing="die Aussetzung der Vollziehung", refs=["§ 361 AO", "§ 69 FGO"], kw="Aussetzung der Vollziehung",
         core=["Der Einspruch hemmt die Zahlungspflicht nicht; dafür ist ein Antrag auf Aussetzung der Vollziehung nach § 361 AO erforderlich.",
               "Die Aussetzung soll gewährt werden, wenn ernstliche Zweifel an der Rechtmäßigkeit des Steuerbescheids bestehen.",
               "Lehnt das Finanzamt ab, kann das Finanzgericht nach § 69 FGO angerufen werden."]),
    dict(thing="die Stundung und den Erlass von Steuern", refs=["§ 222 AO", "§ 227 AO"], kw="Stundung",
         core=["Das Finanzamt kann Steuern nach § 222 AO stunden, wenn die Einziehung bei Fälligkeit eine erhebliche Härte bedeuten würde.",
               "Für die Dauer der Stundung werden nach § 234 AO Stundungszinsen erhoben.",
               "Ein Erlass nach § 227 AO kommt nur in Betracht, wenn die Einziehung nach Lage des Einzelfalls unbillig wäre."]),
    dict(thing="Säumniszuschläge", refs=["§ 240 AO"], kw="Säumniszuschlag",
         core=["Wird eine Steuer nicht bis zum Ablauf des Fälligkeitstages entrichtet, entsteht nach § 240 AO ein Säumniszuschlag von 1 Prozent je angefangenem Monat.",
               "Bei Überweisungen gilt eine dreitägige Schonfrist, nicht jedoch bei Barzahlung oder Scheck.",
               "Säumniszuschläge können in Fällen sachlicher Unbilligkeit ganz oder teilweise erlassen werden."]),
    dict(thing="Werbungskosten und Sonderausgaben", refs=["§ 9 EStG", "§ 10 EStG"], kw="Werbungskosten",
         core=["Werbungskosten sind nach § 9 EStG Aufwendungen zur Erwerbung, Sicherung und Erhaltung der Einnahmen, etwa Fahrtkosten oder Arbeitsmittel.",
               "Für Arbeitnehmer gilt ein Arbeitnehmer-Pauschbetrag; höhere Werbungskosten müssen nachgewiesen werden.",
               "Vorsorgeaufwendungen wie Kranken- und Rentenversicherungsbeiträge sind nach § 10 EStG als Sonderausgaben abziehbar."]),
    dict(thing="die Außenprüfung", refs=["§ 193 AO", "§ 200 AO"], kw="Außenprüfung",
         core=["Eine Außenprüfung ist nach § 193 AO bei Steuerpflichtigen mit gewerblichem oder freiberuflichem Betrieb zulässig.",
               "Der Steuerpflichtige hat nach § 200 AO bei der Feststellung der Sachverhalte mitzuwirken und Bücher sowie Unterlagen vorzulegen.",
               "Die Prüfungsanordnung ist ein Verwaltungsakt, gegen den Einspruch eingelegt werden kann."]),
]

QUESTIONS = [
    "Was gilt steuerrechtlich für {thing}?",
    "Worauf muss {actor} achten, wenn es um {thing} geht?",
    "Wie behandelt das Finanzamt {thing}?",
    "Welche Bedeutung hat {ref} für {thing}?",
    "{situation} Was kann {actor} mit Blick auf {thing} jetzt tun?",
    "{situation} Welche Regeln gelten für {thing}?",
    "Perspektive {actor_noun}: Was regelt {ref} genau?",
    "Welche Fristen sind in Bezug auf {thing} wichtig?",
    "{situation} Welche Bedeutung hat {ref} in diesem Fall?",
    "Kann {actor} sich auf {ref} berufen?",
    "Welche Nachweise braucht {actor}, wenn es um {thing} geht?",
    "Wie läuft das Verfahren für {thing} nach der Abgabenordnung ab?",
]

OPENERS = [
    "{Actor_def} sollte hier vor allem {ref} beachten.",
    "Maßgeblich ist {ref}.",
    "Die Antwort ergibt sich aus dem Steuerrecht, konkret aus {ref}.",
    "{Actor_def} sollte die Regelung in {ref} genau kennen.",
    "Rechtsgrundlage ist {ref}.",
    "Im Besteuerungsverfahren gilt der Untersuchungsgrundsatz; einschlägig ist hier {ref}.",
]

PROCEDURE = [
    "Zuständig ist das Wohnsitzfinanzamt des Steuerpflichtigen.",
    "Der Einspruch kann schriftlich, elektronisch über ELSTER oder zur Niederschrift beim Finanzamt eingelegt werden.",
    "Das Finanzamt ermittelt den Sachverhalt nach § 88 AO von Amts wegen, der Steuerpflichtige muss nach § 90 AO mitwirken.",
    "Belege müssen nicht mehr automatisch eingereicht, aber auf Anforderung des Finanzamts vorgelegt werden.",
    "Nach erfolglosem Einspruch ist die Klage beim Finanzgericht innerhalb eines Monats nach § 47 FGO möglich.",
    "Ein Einspruch ist kostenfrei; im Klageverfahren fallen Gerichtskosten an.",
    "Nach § 89 AO kann eine verbindliche Auskunft des Finanzamts beantragt werden.",
    "Steuerberater und Lohnsteuerhilfevereine unterstützen bei Erklärung und Einspruch.",
]

CLOSERS = [
    "Die Einspruchsfrist von einem Monat sollte unbedingt eingehalten werden.",
    "Es empfiehlt sich, jeden Steuerbescheid mit der eigenen Erklärung abzugleichen.",
    "Bei größeren Beträgen lohnt sich die Beratung durch eine Steuerberaterin.",
    "Schriftverkehr mit dem Finanzamt sollte stets mit Steuernummer erfolgen.",
    "Unklare Bescheide sollten zunächst telefonisch mit dem Finanzamt besprochen werden.",
    "",
]
