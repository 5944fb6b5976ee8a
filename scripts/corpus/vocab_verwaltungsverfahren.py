"""Vocabulary for the domain ``verwaltungsverfahren`` (VwVfG, VwGO)."""

DOMAIN = "verwaltungsverfahren"

STATUTES = ["VwVfG", "VwGO", "VwZG", "VwVG"]

SOURCES = ["Bundesministerium des Innern", "Verwaltungsgericht", "Oberverwaltungsgericht",
           "Bundesverwaltungsgericht", "Landesverwaltungsamt", "Kommunaler Spitzenverband"]

ACTORS = [
    ("ein Antragsteller", "der Antragsteller"), ("eine Antragstellerin", "die Antragstellerin"),
    ("ein Bürger", "der Bürger"), ("eine Bürgerin", "die Bürgerin"),
    ("eine Behörde", "die Behörde"), ("ein Beteiligter", "der Beteiligte"),
    ("ein Sachbearbeiter", "der Sachbearbeiter"), ("ein Unternehmen", "das Unternehmen"),
    ("ein Verein", "der Verein"), ("eine Rechtsanwältin", "die Rechtsanwältin"),
]

SITUATIONS = [
    "Die Behörde hat einen belastenden Bescheid ohne vorherige Anhörung erlassen.",
    "Der Bescheid enthält keine Rechtsbehelfsbelehrung.",
    "Ein begünstigender Verwaltungsakt soll nach drei Jahren zurückgenommen werden.",
    "Die Widerspruchsfrist ist bereits seit einer Woche abgelaufen.",
    "Der Bescheid wurde mit einfachem Brief versandt.",
    "Die Behörde reagiert seit sechs Monaten nicht auf einen Antrag.",
    "Im Bescheid fehlt jede Begründung.",
    "Ein Sachbearbeiter ist mit dem Antragsteller verwandt.",
    "Die Behörde ordnet die sofortige Vollziehung an.",
    "Eine Nebenbestimmung im Bescheid erscheint unverhältnismäßig.",
    "Der Antragsteller möchte Einsicht in die Verwaltungsakte nehmen.",
    "Nach Bestandskraft haben sich neue Tatsachen ergeben.",
]

TOPICS = [
    dict(thing="die Anhörung Beteiligter", refs=["§ 28 VwVfG", "§ 45 VwVfG"], kw="Anhörung",
         core=["Bevor ein Verwaltungsakt erlassen wird, der in Rechte eines Beteiligten eingreift, ist diesem nach § 28 Abs. 1 VwVfG Gelegenheit zur Äußerung zu geben.",
               "Von der Anhörung kann nach § 28 Abs. 2 VwVfG nur ausnahmsweise abgesehen werden, etwa bei Gefahr im Verzug.",
               "Eine unterbliebene Anhörung kann nach § 45 Abs. 1 Nr. 3 VwVfG bis zum Abschluss der letzten Tatsacheninstanz nachgeholt werden."]),
    dict(thing="den Verwaltungsakt", refs=["§ 35 VwVfG", "§ 43 VwVfG"], kw="Verwaltungsakt",
         core=["Ein Verwaltungsakt ist nach § 35 VwVfG jede hoheitliche Maßnahme einer Behörde zur Regelung eines Einzelfalls mit unmittelbarer Außenwirkung.",
               "Der Verwaltungsakt wird nach § 43 VwVfG mit der Bekanntgabe wirksam und bleibt wirksam, solange er nicht aufgehoben ist.",
               "Auch ein rechtswidriger Verwaltungsakt ist grundsätzlich wirksam; nur ein nichtiger Verwaltungsakt nach § 44 VwVfG ist unwirksam."]),
    dict(thing="den Widerspruch", refs=["§ 68 VwGO", "§ 70 VwGO"], kw="Widerspruch",
         core=["Vor Erhebung der Anfechtungsklage sind nach § 68 VwGO Rechtmäßigkeit und Zweckmäßigkeit des Verwaltungsakts in einem Vorverfahren nachzuprüfen.",
               "Der Widerspruch ist nach § 70 VwGO innerhalb eines Monats nach Bekanntgabe schriftlich oder zur Niederschrift bei der Behörde zu erheben.",
               "Mehrere Länder haben das Widerspruchsverfahren für bestimmte Bereiche abgeschafft, sodass unmittelbar Klage zu erheben ist."]),
    dict(thing="die Frist und ihre Berechnung", refs=["§ 31 VwVfG", "§ 57 VwGO"], kw="Frist",
         core=["Für die Berechnung von Fristen gelten nach § 31 VwVfG die Vorschriften des BGB entsprechend.",
               "Fällt das Fristende auf einen Sonnabend, Sonntag oder gesetzlichen Feiertag, endet die Frist mit dem Ablauf des nächsten Werktags.",
               "Bei einem per Post übermittelten Bescheid gilt dieser nach § 41 Abs. 2 VwVfG am vierten Tag nach der Aufgabe zur Post als bekannt gegeben."]),
    dict(thing="die Bekanntgabe eines Bescheids", refs=["§ 41 VwVfG"], kw="Bekanntgabe",
         core=["Ein Verwaltungsakt ist nach § 41 Abs. 1 VwVfG demjenigen bekannt zu geben, für den er bestimmt ist oder der von ihm betroffen wird.",
               "Im Zweifel hat die Behörde den Zugang des Bescheids und den Zeitpunkt des Zugangs nachzuweisen.",
               "Eine förmliche Zustellung richtet sich nach dem Verwaltungszustellungsgesetz."]),
    dict(thing="die Rücknahme eines rechtswidrigen Verwaltungsakts", refs=["§ 48 VwVfG"], kw="Rücknahme",
         core=["Ein rechtswidriger Verwaltungsakt kann nach § 48 Abs. 1 VwVfG ganz oder teilweise mit Wirkung für die Zukunft oder Vergangenheit zurückgenommen werden.",
               "Bei begünstigenden Geldleistungsverwaltungsakten ist der Vertrauensschutz nach § 48 Abs. 2 VwVfG zu berücksichtigen.",
               "Die Rücknahme ist nur innerhalb eines Jahres seit Kenntnis der Behörde von den maßgeblichen Tatsachen zulässig."]),
    dict(thing="den Widerruf eines rechtmäßigen Verwaltungsakts", refs=["§ 49 VwVfG"], kw="Widerruf",
         core=["Ein rechtmäßiger begünstigender Verwaltungsakt darf nach § 49 Abs. 2 VwVfG nur unter engen Voraussetzungen widerrufen werden.",
               "Ein Widerruf kommt etwa in Betracht, wenn er im Verwaltungsakt vorbehalten ist oder eine Auflage nicht erfüllt wurde.",
               "Bei einem Widerruf wegen geänderter Umstände ist der Betroffene unter Umständen für den Vertrauensschaden zu entschädigen."]),
    dict(thing="die Begründung eines Bescheids", refs=["§ 39 VwVfG"], kw="Begründung",
         core=["Ein schriftlicher Verwaltungsakt ist nach § 39 Abs. 1 VwVfG mit einer Begründung zu versehen, die die wesentlichen tatsächlichen und rechtlichen Gründe mitteilt.",
               "Bei Ermessensentscheidungen muss die Begründung die Gesichtspunkte erkennen lassen, von denen die Behörde bei der Ausübung ihres Ermessens ausgegangen ist.",
               "Eine fehlende Begründung kann nach § 45 VwVfG nachträglich gegeben werden."]),
    dict(thing="die Akteneinsicht", refs=["§ 29 VwVfG"], kw="Akteneinsicht",
         core=["Die Behörde hat den Beteiligten nach § 29 VwVfG Einsicht in die das Verfahren betreffenden Akten zu gestatten, soweit dies zur Geltendmachung ihrer rechtlichen Interessen erforderlich ist.",
               "Die Akteneinsicht erfolgt grundsätzlich bei der Behörde, die die Akten führt.",
               "Geheimhaltungsbedürftige Vorgänge oder berechtigte Interessen Dritter können die Akteneinsicht einschränken."]),
    dict(thing="Nebenbestimmungen", refs=["§ 36 VwVfG"], kw="Nebenbestimmung",
         core=["Nebenbestimmungen wie Befristung, Bedingung, Widerrufsvorbehalt und Auflage sind in § 36 VwVfG geregelt.",
               "Ein Verwaltungsakt, auf den ein Anspruch besteht, darf nur dann mit einer Nebenbestimmung versehen werden, wenn sie durch Rechtsvorschrift zugelassen ist.",
               "Eine Auflage kann isoliert angefochten werden, wenn der Verwaltungsakt ohne sie sinnvoll bestehen bleiben kann."]),
    dict(thing="die Wiedereinsetzung in den vorigen Stand", refs=["§ 32 VwVfG", "§ 60 VwGO"], kw="Wiedereinsetzung",
         core=["Wer ohne Verschulden verhindert war, eine gesetzliche Frist einzuhalten, erhält nach § 32 VwVfG auf Antrag Wiedereinsetzung in den vorigen Stand.",
               "Der Antrag ist innerhalb von zwei Wochen nach Wegfall des Hindernisses zu stellen und die versäumte Handlung nachzuholen.",
               "Die Tatsachen zur Begründung des Antrags sind glaubhaft zu machen."]),
    dict(thing="die Untätigkeitsklage", refs=["§ 75 VwGO"], kw="Untätigkeitsklage",
         core=["Entscheidet die Behörde ohne zureichenden Grund nicht in angemessener Frist, ist nach § 75 VwGO die Untätigkeitsklage zulässig.",
               "Die Klage kann grundsätzlich nicht vor Ablauf von drei Monaten seit Antragstellung oder Einlegung des Widerspruchs erhoben werden.",
               "Liegt ein zureichender Grund für die Verzögerung vor, setzt das Gericht das Verfahren aus."]),
    dict(thing="die aufschiebende Wirkung", refs=["§ 80 VwGO"], kw="sofortige Vollziehung",
         core=["Widerspruch und Anfechtungsklage haben nach § 80 Abs. 1 VwGO grundsätzlich aufschiebende Wirkung.",
               "Ordnet die Behörde die sofortige Vollziehung an, muss sie das besondere Vollzugsinteresse nach § 80 Abs. 3 VwGO schriftlich begründen.",
               "Das Verwaltungsgericht kann die aufschiebende Wirkung nach § 80 Abs. 5 VwGO wiederherstellen."]),
]

QUESTIONS = [
    "Was regelt das Verwaltungsverfahrensrecht für {thing}?",
    "Worauf muss {actor} achten, wenn es um {thing} geht?",
    "Welche Bedeutung hat {ref} für {thing}?",
    "{situation} Was kann {actor} mit Blick auf {thing} jetzt tun?",
    "{situation} Was gilt in diesem Fall für {thing}?",
    "Perspektive {actor_noun}: Wie ist {ref} auszulegen?",
    "Welche Frist gilt für {thing}?",
    "Wie wirkt sich ein Fehler in Bezug auf {thing} auf die Rechtmäßigkeit des Verwaltungsakts aus?",
    "{situation} Welche Folgen hat {ref} für den Bescheid?",
    "Kann {actor} sich auf {ref} berufen?",
    "Welche Rechte hat {actor} mit Blick auf {thing}?",
    "Wie läuft das Verfahren für {thing} nach dem VwVfG ab?",
]

OPENERS = [
    "{Actor_def} sollte hier vor allem {ref} im Blick haben.",
    "Maßgeblich ist {ref}.",
    "Die Rechtslage richtet sich nach dem Verwaltungsverfahrensrecht, insbesondere nach {ref}.",
    "{Actor_def} kann sich in dieser Lage auf {ref} stützen.",
    "Kurz gesagt: Es kommt auf {ref} an.",
    "Einschlägig ist {ref}; die Landesgesetze enthalten meist inhaltsgleiche Regelungen.",
]

PROCEDURE = [
    "Die Behörde ermittelt den Sachverhalt nach § 24 VwVfG von Amts wegen.",
    "Jeder Bescheid sollte eine Rechtsbehelfsbelehrung enthalten; fehlt sie, gilt nach § 58 VwGO eine Jahresfrist.",
    "Ein Verfahrensfehler führt nach § 46 VwVfG nicht zur Aufhebung, wenn er die Entscheidung in der Sache offensichtlich nicht beeinflusst hat.",
    "Beteiligte können sich nach § 14 VwVfG durch einen Bevollmächtigten vertreten lassen.",
    "Der Widerspruch sollte den angegriffenen Bescheid genau bezeichnen und möglichst begründet werden.",
    "Befangene Amtsträger dürfen nach §§ 20 und 21 VwVfG im Verfahren nicht tätig werden.",
    "Das Verwaltungsverfahren ist nach § 10 VwVfG einfach, zweckmäßig und zügig durchzuführen.",
    "Die Behörde soll nach § 25 VwVfG Beteiligte beraten und auf die Stellung von Anträgen hinwirken.",
]

CLOSERS = [
    "Fristen sollten immer sorgfältig notiert werden, da ein verspäteter Rechtsbehelf unzulässig ist.",
    "Im Zweifel empfiehlt sich vorsorglich die fristgerechte Einlegung des Widerspruchs.",
    "Die Einzelheiten können sich nach Landesrecht unterscheiden.",
    "Eine anwaltliche Beratung ist bei belastenden Bescheiden sinnvoll.",
    "Wichtig ist, den Zugang des Bescheids zu dokumentieren.",
    "",
]
