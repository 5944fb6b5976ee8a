"""Vocabulary for the domain ``umweltrecht`` (Immissionsschutz, UVP, Naturschutz)."""

DOMAIN = "umweltrecht"

STATUTES = ["BImSchG", "UVPG", "BNatSchG", "TA Lärm", "TA Luft", "4. BImSchV", "WHG"]

SOURCES = ["Umweltbundesamt", "Landesamt für Umwelt", "Umweltministerium", "Verwaltungsgericht",
           "Bundesverwaltungsgericht", "Immissionsschutzbehörde", "Naturschutzbehörde"]

ACTORS = [
    ("ein Anlagenbetreiber", "der Anlagenbetreiber"), ("eine Betreiberin", "die Betreiberin"),
    ("ein Anwohner", "der Anwohner"), ("eine Bürgerinitiative", "die Bürgerinitiative"),
    ("ein Umweltverband", "der Umweltverband"), ("eine Gemeinde", "die Gemeinde"),
    ("ein Vorhabenträger", "der Vorhabenträger"), ("eine Immissionsschutzbehörde", "die Immissionsschutzbehörde"),
    ("ein Windparkbetreiber", "der Windparkbetreiber"), ("ein Landwirt mit Tierhaltung", "der Landwirt"),
]

SITUATIONS = [
    "Neben einem Wohngebiet soll eine Biogasanlage errichtet werden.",
    "Ein Windpark mit zwölf Anlagen ist in Planung.",
    "Anwohner beklagen nächtlichen Lärm durch einen Logistikbetrieb.",
    "Eine Schweinemastanlage soll auf 2.000 Tierplätze erweitert werden.",
    "Im Vorhabengebiet wurden geschützte Fledermausarten nachgewiesen.",
    "Die Behörde hat eine nachträgliche Anordnung zur Staubminderung erlassen.",
    "Ein Steinbruch soll seine Abbaufläche vergrößern.",
    "Gemessene Stickstoffdioxidwerte überschreiten die Grenzwerte.",
    "Für eine Straßenplanung wird eine Umweltverträglichkeitsprüfung diskutiert.",
    "Ein Chemiewerk möchte eine neue Produktionslinie in Betrieb nehmen.",
    "Ein Umweltverband erwägt eine Klage gegen eine erteilte Genehmigung.",
    "Eine Kläranlage verursacht Geruchsbelästigungen in der Nachbarschaft.",
]

TOPICS = [
    dict(thing="die immissionsschutzrechtliche Genehmigung", refs=["§ 4 BImSchG", "§ 6 BImSchG"], kw="Genehmigung",
         core=["Anlagen, die in besonderem Maße schädliche Umwelteinwirkungen hervorrufen können, bedürfen nach § 4 BImSchG einer Genehmigung.",
               "Welche Anlagen genehmigungsbedürftig sind, ergibt sich aus dem Anhang 1 der 4. BImSchV.",
               "Die Genehmigung ist nach § 6 BImSchG zu erteilen, wenn die Betreiberpflichten erfüllt sind und andere öffentlich-rechtliche Vorschriften nicht entgegenstehen."]),
    dict(thing="die Betreiberpflichten", refs=["§ 5 BImSchG"], kw="Betreiberpflichten",
         core=["Nach § 5 Abs. 1 Nr. 1 BImSchG dürfen von der Anlage keine schädlichen Umwelteinwirkungen für die Allgemeinheit und die Nachbarschaft ausgehen.",
               "§ 5 Abs. 1 Nr. 2 BImSchG verpflichtet den Betreiber zur Vorsorge nach dem Stand der Technik, insbesondere durch Emissionsbegrenzungen.",
               "Abfälle sind nach § 5 Abs. 1 Nr. 3 BImSchG zu vermeiden oder ordnungsgemäß zu verwerten."]),
    dict(thing="den Lärmschutz", refs=["§ 22 BImSchG", "TA Lärm"], kw="Lärmschutz",
         core=["Für gewerbliche Anlagen konkretisiert die TA Lärm die Zumutbarkeit von Geräuschimmissionen durch gebietsbezogene Immissionsrichtwerte.",
               "In einem allgemeinen Wohngebiet liegt der Immissionsrichtwert nach der TA Lärm bei 55 dB(A) tags und 40 dB(A) nachts.",
               "Nicht genehmigungsbedürftige Anlagen sind nach § 22 BImSchG so zu betreiben, dass vermeidbare schädliche Umwelteinwirkungen verhindert werden."]),
    dict(thing="die Umweltverträglichkeitsprüfung", refs=["§ 5 UVPG", "§ 7 UVPG"], kw="Umweltverträglichkeitsprüfung",
         core=["Die Umweltverträglichkeitsprüfung ist ein unselbständiger Teil des Zulassungsverfahrens und ermittelt die Auswirkungen auf Menschen, Tiere, Pflanzen, Boden, Wasser, Luft und Klima.",
               "Ob eine UVP-Pflicht besteht, stellt die Behörde nach § 5 UVPG fest; bei kleineren Vorhaben erfolgt eine Vorprüfung des Einzelfalls nach § 7 UVPG.",
               "Der Vorhabenträger hat einen UVP-Bericht vorzulegen, zu dem die Öffentlichkeit beteiligt wird."]),
    dict(thing="Emissionen und Grenzwerte", refs=["§ 48 BImSchG", "TA Luft"], kw="Emissionen",
         core=["Die TA Luft legt als Verwaltungsvorschrift nach § 48 BImSchG Emissionswerte für Staub, Stickstoffoxide und Geruchsstoffe fest.",
               "Emissionen sind die von einer Anlage ausgehenden Luftverunreinigungen, Geräusche und Erschütterungen; Immissionen sind die Einwirkungen am Einwirkungsort.",
               "Die Einhaltung der Emissionsgrenzwerte wird durch Messungen einer bekannt gegebenen Messstelle überprüft."]),
    dict(thing="eine nachträgliche Anordnung", refs=["§ 17 BImSchG"], kw="Anordnung",
         core=["Nach § 17 BImSchG kann die Behörde auch nach Erteilung der Genehmigung Anordnungen zur Erfüllung der Betreiberpflichten treffen.",
               "Eine nachträgliche Anordnung darf nicht unverhältnismäßig sein; der Aufwand ist mit dem angestrebten Erfolg abzuwägen.",
               "Kommt der Betreiber einer vollziehbaren Anordnung nicht nach, kann der Betrieb nach § 20 BImSchG untersagt werden."]),
    dict(thing="das förmliche Genehmigungsverfahren mit Öffentlichkeitsbeteiligung", refs=["§ 10 BImSchG", "§ 19 BImSchG"], kw="Öffentlichkeitsbeteiligung",
         core=["Im förmlichen Verfahren nach § 10 BImSchG wird das Vorhaben öffentlich bekannt gemacht und Antrag sowie Unterlagen werden einen Monat ausgelegt.",
               "Einwendungen können bis zwei Wochen nach Ablauf der Auslegungsfrist erhoben werden; anschließend findet ein Erörterungstermin statt.",
               "Kleinere Anlagen werden im vereinfachten Verfahren nach § 19 BImSchG ohne Öffentlichkeitsbeteiligung genehmigt."]),
    dict(thing="den Artenschutz", refs=["§ 44 BNatSchG", "§ 45 BNatSchG"], kw="Artenschutz",
         core=["§ 44 BNatSchG verbietet es, wild lebende Tiere der besonders geschützten Arten zu töten oder ihre Fortpflanzungs- und Ruhestätten zu zerstören.",
               "Eine Ausnahme nach § 45 Abs. 7 BNatSchG setzt zwingende Gründe des überwiegenden öffentlichen Interesses und das Fehlen zumutbarer Alternativen voraus.",
               "Vor der Zulassung ist eine spezielle artenschutzrechtliche Prüfung mit Kartierungen im Vorhabengebiet durchzuführen."]),
    dict(thing="die Eingriffsregelung", refs=["§ 14 BNatSchG", "§ 15 BNatSchG"], kw="Eingriffsregelung",
         core=["Eingriffe in Natur und Landschaft sind nach § 14 BNatSchG Veränderungen, die die Leistungs- und Funktionsfähigkeit des Naturhaushalts erheblich beeinträchtigen können.",
               "Der Verursacher muss vermeidbare Beeinträchtigungen unterlassen und unvermeidbare durch Ausgleichs- oder Ersatzmaßnahmen nach § 15 BNatSchG kompensieren.",
               "Ist eine Kompensation nicht möglich, kann eine Ersatzzahlung festgesetzt werden."]),
    dict(thing="die Verbandsklage im Umweltrecht", refs=["§ 2 UmwRG", "§ 64 BNatSchG"], kw="Verbandsklage",
         core=["Anerkannte Umweltvereinigungen können nach § 2 UmwRG Rechtsbehelfe gegen Zulassungsentscheidungen einlegen, ohne eine eigene Rechtsverletzung geltend zu machen.",
               "Die Vereinigung muss geltend machen, dass die Entscheidung umweltbezogenen Rechtsvorschriften widerspricht und sie in ihrem satzungsgemäßen Aufgabenbereich berührt.",
               "Naturschutzvereinigungen steht zusätzlich das Klagerecht nach § 64 BNatSchG zu."]),
    dict(thing="einen Luftreinhalteplan", refs=["§ 47 BImSchG", "39. BImSchV"], kw="Luftreinhaltung",
         core=["Werden Immissionsgrenzwerte der 39. BImSchV überschritten, muss die zuständige Behörde nach § 47 BImSchG einen Luftreinhalteplan aufstellen.",
               "Der Luftreinhalteplan enthält Maßnahmen wie Verkehrsbeschränkungen oder Umweltzonen, um die Überschreitung so schnell wie möglich zu beenden.",
               "Bürger können die Aufstellung wirksamer Maßnahmen unter Umständen gerichtlich durchsetzen."]),
    dict(thing="den Gewässerschutz bei Industrieanlagen", refs=["§ 8 WHG", "§ 62 WHG"], kw="Gewässerschutz",
         core=["Die Einleitung von Abwasser in ein Gewässer ist eine Benutzung, die nach § 8 WHG einer wasserrechtlichen Erlaubnis bedarf.",
               "Anlagen zum Umgang mit wassergefährdenden Stoffen müssen nach § 62 WHG so beschaffen sein, dass eine nachteilige Veränderung der Gewässer nicht zu besorgen ist.",
               "Die immissionsschutzrechtliche Genehmigung schließt die wasserrechtliche Erlaubnis wegen § 13 BImSchG nicht ein."]),
]

QUESTIONS = [
    "Was verlangt das Umweltrecht für {thing}?",
    "Welche Pflichten hat {actor} in Bezug auf {thing}?",
    "Wie prüft die Immissionsschutzbehörde {thing}?",
    "Welche Bedeutung hat {ref} für {thing}?",
    "{situation} Was gilt hier für {thing}?",
    "{situation} Welche Rechte hat {actor} in Bezug auf {thing}?",
    "Perspektive {actor_noun}: Was regelt {ref} konkret?",
    "Wann ist {ref} einschlägig und was folgt daraus?",
    "Kann {actor} gegen eine Entscheidung über {thing} vorgehen?",
    "Welche Unterlagen braucht {actor}, wenn es um {thing} geht?",
    "{situation} Welche Anforderungen stellt {ref} hier?",
    "Welche Messungen und Gutachten sind für {thing} typischerweise nötig?",
]

OPENERS = [
    "{Actor_def} muss hier in erster Linie {ref} beachten.",
    "Die Antwort ergibt sich aus dem Immissionsschutz- und Umweltrecht, vor allem aus {ref}.",
    "Entscheidend ist {ref}; die Vorschrift dient dem Schutz von Mensch und Umwelt.",
    "{Actor_def} sollte die Anforderungen nach {ref} frühzeitig mit der Behörde abstimmen.",
    "Rechtsgrundlage ist {ref}; ergänzend gelten die untergesetzlichen Regelwerke.",
    "Im Umweltrecht gilt das Vorsorgeprinzip; konkret greift hier {ref}.",
]

PROCEDURE = [
    "Zuständig ist je nach Land die untere oder obere Immissionsschutzbehörde.",
    "Vor Antragstellung empfiehlt sich eine Antragskonferenz mit den beteiligten Fachbehörden.",
    "Gutachten zu Lärm, Gerüchen und Luftschadstoffen sind in der Regel Bestandteil der Antragsunterlagen.",
    "Die Genehmigung nach dem BImSchG hat Konzentrationswirkung und schließt die Baugenehmigung ein.",
    "Anwohner können bei der Behörde ein Einschreiten beantragen, wenn Immissionsrichtwerte überschritten werden.",
    "Die Behörde überwacht die Anlage durch regelmäßige Umweltinspektionen.",
    "Umweltinformationen können nach dem Umweltinformationsgesetz bei der Behörde angefordert werden.",
    "Verstöße gegen Auflagen können als Ordnungswidrigkeit mit einem Bußgeld geahndet werden.",
]

CLOSERS = [
    "Im Einzelfall kommt es auf die Messwerte und die Gebietseinstufung an.",
    "Ein frühzeitiges Fachgutachten verhindert Verzögerungen im Verfahren.",
    "Rechtsbehelfe sind innerhalb eines Monats nach Bekanntgabe einzulegen.",
    "Bei Unsicherheiten hilft eine Anfrage bei der Immissionsschutzbehörde.",
    "Die konkreten Anforderungen ergeben sich aus dem Genehmigungsbescheid und seinen Nebenbestimmungen.",
    "",
]
