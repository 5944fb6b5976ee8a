"""Vocabulary for the domain ``baurecht`` (öffentliches Baurecht)."""

DOMAIN = "baurecht"

STATUTES = ["BauGB", "BauNVO", "Landesbauordnung (LBO)", "PlanZV", "VwGO"]

SOURCES = ["Bauministerium", "Bauaufsichtsbehörde", "Verwaltungsgericht", "Oberverwaltungsgericht",
           "Bundesverwaltungsgericht", "Architektenkammer", "Städtetag"]

# (indefinite nominative, definite nominative)
ACTORS = [
    ("ein Bauherr", "der Bauherr"), ("eine Bauherrin", "die Bauherrin"),
    ("eine Gemeinde", "die Gemeinde"), ("ein Nachbar", "der Nachbar"),
    ("eine Nachbarin", "die Nachbarin"), ("ein Architekt", "der Architekt"),
    ("ein Antragsteller", "der Antragsteller"), ("ein Grundstückseigentümer", "der Grundstückseigentümer"),
    ("ein Landwirt", "der Landwirt"), ("eine Wohnungsbaugesellschaft", "die Wohnungsbaugesellschaft"),
]

SITUATIONS = [
    "Das Grundstück liegt am Ortsrand ohne Bebauungsplan.",
    "Auf dem Nachbargrundstück soll eine Doppelgarage direkt an der Grenze entstehen.",
    "Geplant ist ein Einfamilienhaus mit Einliegerwohnung.",
    "Eine alte Scheune soll zu Wohnzwecken umgebaut werden.",
    "Die Bauaufsichtsbehörde hat eine Baueinstellung verfügt.",
    "Im Bebauungsplan ist ein allgemeines Wohngebiet festgesetzt.",
    "Der Bauantrag liegt seit vier Monaten unbearbeitet bei der Behörde.",
    "Es geht um einen Dachgeschossausbau in einem Mehrfamilienhaus.",
    "Ein Gewerbebetrieb möchte seine Lagerhalle erweitern.",
    "Die Gemeinde hat eine Veränderungssperre beschlossen.",
    "Auf dem Grundstück steht ein Gartenhaus, das ohne Genehmigung errichtet wurde.",
    "Das Vorhaben liegt innerhalb eines im Zusammenhang bebauten Ortsteils.",
]

TOPICS = [
    dict(thing="ein Vorhaben im Außenbereich", refs=["§ 35 BauGB"], kw="Außenbereich",
         core=["Im Außenbereich sind nach § 35 Abs. 1 BauGB nur privilegierte Vorhaben wie landwirtschaftliche Betriebe grundsätzlich zulässig.",
               "Sonstige Vorhaben können nach § 35 Abs. 2 BauGB nur zugelassen werden, wenn öffentliche Belange nicht beeinträchtigt werden.",
               "Zu den öffentlichen Belangen zählen etwa die Darstellungen des Flächennutzungsplans, der Naturschutz und die Vermeidung einer Splittersiedlung."]),
    dict(thing="ein Bauvorhaben im unbeplanten Innenbereich", refs=["§ 34 BauGB"], kw="Innenbereich",
         core=["Nach § 34 Abs. 1 BauGB muss sich das Vorhaben nach Art und Maß der baulichen Nutzung in die Eigenart der näheren Umgebung einfügen.",
               "Maßgeblich ist die tatsächlich vorhandene Bebauung; entspricht sie einem Baugebiet der BauNVO, gilt § 34 Abs. 2 BauGB.",
               "Die Erschließung muss gesichert sein und das Ortsbild darf nicht beeinträchtigt werden."]),
    dict(thing="die Zulässigkeit im Geltungsbereich eines Bebauungsplans", refs=["§ 30 BauGB", "§ 31 BauGB"], kw="Bebauungsplan",
         core=["Im Geltungsbereich eines qualifizierten Bebauungsplans ist ein Vorhaben nach § 30 Abs. 1 BauGB zulässig, wenn es den Festsetzungen nicht widerspricht.",
               "Von den Festsetzungen des Bebauungsplans kann nach § 31 Abs. 2 BauGB eine Befreiung erteilt werden, wenn die Grundzüge der Planung nicht berührt werden.",
               "Ausnahmen nach § 31 Abs. 1 BauGB sind nur möglich, soweit der Bebauungsplan sie ausdrücklich vorsieht."]),
    dict(thing="einen Bauantrag", refs=["§ 64 LBO", "§ 68 LBO"], kw="Bauantrag",
         core=["Der Bauantrag ist schriftlich mit allen Bauvorlagen bei der unteren Bauaufsichtsbehörde einzureichen.",
               "Zu den Bauvorlagen gehören regelmäßig Lageplan, Bauzeichnungen, Baubeschreibung und der Standsicherheitsnachweis.",
               "Unvollständige Bauanträge werden von der Bauaufsichtsbehörde zurückgegeben oder es wird eine Frist zur Ergänzung gesetzt."]),
    dict(thing="die Baugenehmigung", refs=["§ 72 LBO", "§ 29 BauGB"], kw="Baugenehmigung",
         core=["Die Baugenehmigung ist zu erteilen, wenn dem Vorhaben keine öffentlich-rechtlichen Vorschriften entgegenstehen.",
               "Vorhaben im Sinne des § 29 BauGB sind die Errichtung, Änderung und Nutzungsänderung baulicher Anlagen.",
               "Die Baugenehmigung erlischt, wenn nicht innerhalb der landesrechtlichen Frist mit der Ausführung begonnen wird."]),
    dict(thing="die Abstandsflächen", refs=["§ 6 LBO"], kw="Abstandsflächen",
         core=["Vor den Außenwänden von Gebäuden sind nach § 6 LBO Abstandsflächen freizuhalten, die auf dem eigenen Grundstück liegen müssen.",
               "Die Tiefe der Abstandsfläche bemisst sich nach der Wandhöhe und beträgt in vielen Ländern 0,4 H, mindestens jedoch 3 m.",
               "Grenzgaragen und Nebengebäude sind in den Landesbauordnungen häufig bis zu einer bestimmten Länge und Höhe in der Abstandsfläche zulässig."]),
    dict(thing="einen Bauvorbescheid", refs=["§ 75 LBO"], kw="Bauvorbescheid",
         core=["Mit dem Bauvorbescheid kann vor Einreichung des Bauantrags über einzelne Fragen des Vorhabens, etwa die planungsrechtliche Zulässigkeit, entschieden werden.",
               "Der Bauvorbescheid bindet die Bauaufsichtsbehörde für das spätere Genehmigungsverfahren, solange er wirksam ist.",
               "Die Geltungsdauer des Bauvorbescheids ist in der Landesbauordnung geregelt und kann auf Antrag verlängert werden."]),
    dict(thing="das gemeindliche Einvernehmen", refs=["§ 36 BauGB"], kw="Einvernehmen",
         core=["Nach § 36 BauGB entscheidet die Bauaufsichtsbehörde in den Fällen der §§ 31, 33 bis 35 BauGB im Einvernehmen mit der Gemeinde.",
               "Das Einvernehmen gilt als erteilt, wenn die Gemeinde es nicht binnen zwei Monaten verweigert.",
               "Ein rechtswidrig versagtes Einvernehmen kann von der zuständigen Behörde ersetzt werden."]),
    dict(thing="eine Veränderungssperre", refs=["§ 14 BauGB", "§ 17 BauGB"], kw="Veränderungssperre",
         core=["Zur Sicherung der Planung kann die Gemeinde nach § 14 BauGB eine Veränderungssperre als Satzung beschließen.",
               "Die Veränderungssperre tritt nach § 17 BauGB grundsätzlich nach zwei Jahren außer Kraft, kann aber verlängert werden.",
               "Während der Veränderungssperre dürfen Vorhaben nur mit einer Ausnahme nach § 14 Abs. 2 BauGB verwirklicht werden."]),
    dict(thing="eine Nutzungsänderung", refs=["§ 29 BauGB", "§ 59 LBO"], kw="Nutzungsänderung",
         core=["Auch die bloße Nutzungsänderung einer baulichen Anlage ist ein Vorhaben im Sinne des § 29 BauGB und regelmäßig genehmigungspflichtig.",
               "Genehmigungsfrei ist eine Nutzungsänderung nur, wenn für die neue Nutzung keine anderen öffentlich-rechtlichen Anforderungen gelten.",
               "Bei der Umnutzung landwirtschaftlicher Gebäude im Außenbereich ist die Teilprivilegierung des § 35 Abs. 4 BauGB zu prüfen."]),
    dict(thing="eine Nachbarklage gegen eine Baugenehmigung", refs=["§ 212a BauGB", "§ 80a VwGO"], kw="Nachbarschutz",
         core=["Der Nachbar kann sich nur auf Vorschriften berufen, die zumindest auch seinem Schutz dienen, etwa die Abstandsflächen oder das Gebot der Rücksichtnahme.",
               "Widerspruch und Anfechtungsklage des Nachbarn haben nach § 212a BauGB keine aufschiebende Wirkung.",
               "Vorläufiger Rechtsschutz kann beim Verwaltungsgericht nach §§ 80a, 80 Abs. 5 VwGO beantragt werden."]),
    dict(thing="eine Beseitigungsanordnung", refs=["§ 80 LBO"], kw="Beseitigungsanordnung",
         core=["Die Bauaufsichtsbehörde kann die Beseitigung einer baulichen Anlage anordnen, die im Widerspruch zu öffentlich-rechtlichen Vorschriften errichtet wurde.",
               "Voraussetzung ist, dass auf andere Weise keine rechtmäßigen Zustände hergestellt werden können, etwa durch eine nachträgliche Baugenehmigung.",
               "Die Behörde muss ihr Ermessen ausüben und den Grundsatz der Verhältnismäßigkeit beachten."]),
    dict(thing="die Art der baulichen Nutzung", refs=["§ 4 BauNVO", "§ 15 BauNVO"], kw="Baugebiet",
         core=["In einem allgemeinen Wohngebiet nach § 4 BauNVO sind Wohngebäude sowie nicht störende Handwerksbetriebe allgemein zulässig.",
               "Nach § 15 BauNVO ist eine an sich zulässige Anlage im Einzelfall unzulässig, wenn von ihr unzumutbare Belästigungen ausgehen.",
               "Das Maß der baulichen Nutzung wird über Grundflächenzahl, Geschossflächenzahl und die Zahl der Vollgeschosse festgesetzt."]),
]

QUESTIONS = [
    "Welche Voraussetzungen gelten für {thing}?",
    "Was muss {actor} beachten, wenn es um {thing} geht?",
    "Wie prüft die Bauaufsichtsbehörde {thing}?",
    "Kann {actor} sich gegen eine Entscheidung über {thing} wehren?",
    "Welche Rolle spielt {ref} für {thing}?",
    "{situation} Was gilt in diesem Fall für {thing}?",
    "{situation} Worauf sollte {actor} mit Blick auf {thing} jetzt achten?",
    "Perspektive {actor_noun}: Was bedeutet {ref} hier konkret?",
    "Welche Unterlagen und Nachweise braucht {actor}, wenn es um {thing} geht?",
    "Wie lange dauert das Verfahren für {thing} in der Regel?",
    "Welche Fehler passieren häufig in Bezug auf {thing}?",
    "{situation} Ist {ref} hier anwendbar?",
]

OPENERS = [
    "{Actor_def} sollte zunächst {ref} prüfen.",
    "Maßgeblich ist hier vor allem {ref}.",
    "Kurz gesagt: Entscheidend ist {ref}.",
    "{Actor_def} sollte die Rechtslage nach {ref} frühzeitig prüfen lassen.",
    "Die Antwort ergibt sich aus dem öffentlichen Baurecht, insbesondere aus {ref}.",
    "Im Baurecht ist zwischen Bauplanungsrecht und Bauordnungsrecht zu unterscheiden; hier greift {ref}.",
]

PROCEDURE = [
    "Zuständig ist in der Regel die untere Bauaufsichtsbehörde des Kreises oder der kreisfreien Stadt.",
    "Es empfiehlt sich, vor dem Bauantrag ein Beratungsgespräch mit der Bauaufsichtsbehörde zu führen.",
    "Die Bauvorlagen müssen von einer bauvorlageberechtigten Person, meist einem Architekten, unterschrieben sein.",
    "Gegen eine ablehnende Entscheidung ist je nach Land Widerspruch oder unmittelbar Klage beim Verwaltungsgericht möglich.",
    "Die Angrenzer sind nach der Landesbauordnung am Verfahren zu beteiligen, wenn ihre Belange berührt sein können.",
    "Der Bebauungsplan und der Flächennutzungsplan können bei der Gemeinde eingesehen werden.",
    "Für die Prüfung erhebt die Bauaufsichtsbehörde Gebühren nach der Baugebührenordnung.",
    "Eine Bauvoranfrage kann helfen, teure Planungskosten bei unsicherer Zulässigkeit zu vermeiden.",
]

CLOSERS = [
    "Im Zweifel sollte eine verbindliche Auskunft der Bauaufsichtsbehörde eingeholt werden.",
    "Die Einzelheiten unterscheiden sich nach der jeweiligen Landesbauordnung.",
    "Bei komplexen Vorhaben ist eine fachanwaltliche Beratung im Verwaltungsrecht sinnvoll.",
    "Fristen für Widerspruch und Klage beginnen mit der Bekanntgabe des Bescheids.",
    "Wer ohne Genehmigung baut, riskiert eine Baueinstellung und ein Bußgeld.",
    "",
]
