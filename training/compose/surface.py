"""How each intent can be said: verbs, direction phrases, chunks, frames and fixed utterances.

Every table is a pair ``(train, held)``: ``held`` options are said only in the test split. A step
is said as chunks, its head first ("go forward") then its modifiers ("2 m", "at 0.5 m/s"), so an
operator can move a modifier to the front ("for 3 s, go forward at 0.7 m/s").
"""

from __future__ import annotations

from .choice import Ctx

# (phrase in the command, the answer's word): the answer keeps the command's word after the
# normaliser's folding ("forwards" -> "forward", "anticlockwise" -> "counterclockwise").
FORWARD = (("forward", "forward"), ("forward", "forward"), ("forwards", "forward"), ("ahead", "ahead"),
           ("straight ahead", "ahead"), ("straight", "straight"), ("straight on", "straight"))
BACKWARD = (("back", "back"), ("backward", "backward"), ("backwards", "backward"), ("in reverse", "reverse"),
            ("back", "back"), ("backward", "backward"))
LEFT = (("left", "left"), ("left", "left"), ("to the left", "left"), ("counterclockwise", "counterclockwise"),
        ("counter-clockwise", "counterclockwise"), ("anticlockwise", "counterclockwise"),
        ("anti-clockwise", "counterclockwise"), ("ccw", "counterclockwise"))
RIGHT = (("right", "right"), ("right", "right"), ("to the right", "right"), ("clockwise", "clockwise"),
         ("cw", "clockwise"))
OPPOSITE = {"forward": BACKWARD, "ahead": BACKWARD, "straight": BACKWARD, "back": FORWARD, "backward": FORWARD,
            "reverse": FORWARD, "left": RIGHT, "counterclockwise": RIGHT, "right": LEFT, "clockwise": LEFT}

MOVE_VERBS = (("move", "go", "drive", "roll", "travel", "proceed", "move the robot", "drive the robot", "scoot",
               "creep", "inch", "go on", "get moving", "run", "move yourself", "go", "drive", "move"),
              ("head", "advance", "take the robot", "cruise"))
# Verbs that carry the direction themselves: (verb, the answer's word).
BACKUP_VERBS = ((("back up", "back"), ("reverse", "reverse"), ("back off", "back"), ("back away", "back"),
                 ("reverse the robot", "reverse"), ("back it up", "back")),
                (("back the robot up", "back"), ("retreat backward", "backward")))
TURN_VERBS = (("turn", "rotate", "spin", "swivel", "turn the robot", "rotate yourself", "spin in place",
               "rotate in place", "turn on the spot", "turn", "rotate", "yaw", "twist"),
              ("pivot", "swing", "wheel around"))
# Chunks around a quantity: {} is the typed quantity.
LENGTH_CHUNK = (("{}", "{}", "{}", "by {}", "for {}", "a distance of {}", "exactly {}", "like {}", "approximately {}",
                 "something like {}"), ("about {}", "roughly {}"))
ANGLE_CHUNK = (("{}", "{}", "{}", "by {}", "exactly {}"), ("through {}", "about {}"))
TIME_CHUNK = (("for {}", "for {}", "for {}", "during {}", "for a period of {}", "{}"),
              ("for a duration of {}", "for the next {}"))
LSPEED_CHUNK = (("at {}", "at {}", "at a speed of {}", "going {}", "with a speed of {}", "at a rate of {}",
                 "speed {}", "at only {}"), ("at a velocity of {}", "moving at {}"))
ASPEED_CHUNK = (("at {}", "at {}", "at a rate of {}", "spinning at {}", "with an angular speed of {}",
                 "rotating at {}"), ("at an angular velocity of {}", "turning at {}"))

# Named turns: (phrase, named angle key); {d} is an optional direction phrase. The answer copies
# the normalised command's angle when the phrase has one ("a quarter turn" -> "0.25 rev").
NAMED_TURNS = (
    (("turn around{d}", "half"), ("turn all the way around{d}", "half"), ("about face", "half"),
     ("make a u-turn{d}", "half"), ("do a 180{d}", "half"), ("spin around{d}", "full"), ("do a 360{d}", "full"),
     ("spin all the way around{d}", "full"), ("do a full turn{d}", "full"), ("make a full rotation{d}", "full"),
     ("do a complete rotation{d}", "full"), ("do a quarter turn{d}", "quarter"), ("make a half turn{d}", "half"),
     ("turn a quarter of a rotation{d}", "quarter"), ("spin a full circle{d}", "full"),
     ("turn to face backward", "half"), ("do a three quarter turn{d}", "quarter"), ("quarter turn{d}", "quarter"),
     ("turn halfway around{d}", "half"), ("spin around once{d}", "full"),
     ("do a one-eighty{d}", "half"), ("pull a three-sixty{d}", "full")),
    (("face the other way", "half"), ("turn to face the opposite direction", "half"),
     ("do one complete spin{d}", "full"), ("rotate a quarter turn{d}", "quarter")),
)
ARC_FRAMES = (
    ("drive {ld} {q} while turning {ad} {a}", "move {ld} {q} and turn {ad} {a} at the same time",
     "arc {ad} {a} over {q} {ld}", "curve {ad} {a} while going {ld} {q}", "go {ld} {q}, curving {a} {ad}",
     "veer {ad} {a} as you drive {ld} {q}", "while driving {ld} {q}, turn {a} {ad}",
     "drive an arc {ld} {q} bending {ad} {a}", "go {q} {ld} while turning {a} {ad}",
     "curve {ld} {q}, rotating {ad} by {a}"),
    ("follow an arc {ld} {q}, turning {a} {ad}", "sweep {ad} {a} across {q} {ld}"),
)
CIRCLE_FRAMES = (
    ("drive in a circle{d}", "go around in a circle{d}", "do a circle{d} with a radius of {r}",
     "drive a circle of radius {r}{d}", "circle{d}, radius {r}", "make a circle{d}",
     "drive in a circle of {r} radius{d}"),
    ("trace a circle{d} of radius {r}", "loop around in a circle{d}"),
)
# Part of a circle: {f} is the part ("half", "quarter", ...), read by the normaliser as "0.5 rev".
PARTIAL_CIRCLE_FRAMES = (
    ("do a {f} circle{d} with a radius of {r}", "drive a {f} circle of radius {r}{d}", "{f} circle{d}, radius {r}",
     "make a {f} circle{d}", "drive a {f} circle{d}", "go around a {f} circle of {r} radius{d}",
     "trace a {f} circle{d} with radius {r}", "{f} circle{d} with a {r} radius"),
    ("follow a {f} circle{d}, radius {r}",))
CIRCLE_PARTS = (("half", "quarter", "three quarter", "semi"), ("three-quarter",))
SQUARE_FRAMES = (
    ("do a {s} square{d}", "drive in a square of {s}{d}", "drive a square with {s} sides{d}",
     "make a square, {s} per side{d}", "trace a {s} square{d}", "drive a {s} by {s} square{d}"),
    ("trace out a square of side {s}{d}", "patrol a {s} square{d}"),
)
SQUARE_DIR = ((", turning {d}", " turning {d}", " to the {d}"), (", always turning {d}",))
CIRCLE_DIR = ((" {d}", " to the {d}", ", going {d}"), (" heading {d}",))
WAIT_FRAMES = (("wait {t}", "wait for {t}", "pause for {t}", "hold on for {t}", "stay put for {t}", "pause {t}",
                "wait around for {t}"),
               ("take a break for {t}", "rest for {t}"))

# Places: (name, aliases); the answer copies the words the command used, articles dropped.
PLACES = (("charging station", ("charger", "charging dock", "dock", "docking station", "base station")),
          ("kitchen", ()), ("living room", ("lounge", "sitting room")), ("front door", ("entrance", "main door")),
          ("office", ("study",)), ("bedroom", ()))
START_WORDS = (("where you started", "start", "starting point", "the start", "your starting point",
                "the starting point"), ("the beginning", "starting position"))
HELD_PLACE_WORDS = ("docking station", "sitting room", "main door")
# Going to charge without naming the place: (phrase, the answer's place word, an alias in places.yaml).
CHARGE_FRAMES = ((("go charge", "charge"), ("go and charge", "charge"), ("go charge yourself", "charge"),
                  ("go recharge", "recharge"), ("time to recharge", "recharge"), ("go to recharge", "recharge"),
                  ("go dock", "dock"), ("go back to your dock", "dock"), ("return to the dock", "dock"),
                  ("head back to the charger", "charger"), ("your battery is low, go charge", "charge"),
                  ("go get some charge", "charge"), ("back to the charger please", "charger")),
                 (("please go recharge yourself", "recharge"), ("dock yourself", "dock")))
UNKNOWN_PLACES = (("garage", "garden", "bathroom", "hallway", "laundry room", "lab", "elevator", "loading bay",
                   "room 12", "dining room", "basement", "balcony", "workshop", "storage room", "reception"),
                  ("pantry", "conference room", "room 7", "patio"))
GOTO_FRAMES = (("go to {p}", "navigate to {p}", "drive to {p}", "head over to {p}", "take me to {p}",
                "return to {p}", "go back to {p}", "move to {p}", "make your way to {p}", "travel to {p}",
                "get to {p}", "go over to {p}", "head to {p}", "drive over to {p}", "go to {p} now", "{p}, please",
                "{p} please", "to {p}", "off to {p}", "{p} now", "can we go to {p}", "i need you in {p}",
                "come to {p}", "go to {p} asap"),
               ("proceed to {p}", "bring the robot to {p}", "find your way to {p}"))

# Plans.
CONNECTORS = ((" then ", " and then ", ", then ", ", after that ", ", after that, ", ", followed by ", " and ",
               ". then ", ", next ", "; then ", ". next, ", ", and after that "),
              (", afterwards ", " and once that's done, ", ". after which "))
FINAL_CONNECTORS = ((", and finally ", ", finally ", " and lastly "), (", to finish, ",))
FIRST = (("first ", "first, ", "start by going to "), ("to begin, ",))  # the last one only before a go-to
STEP_TIMES = (("{s} {n} times", "{s} {w}", "{s} {n} times over"), ("{s}, {n} times in a row",))
TIMES_WORDS = {2: ("twice", "two times"), 3: ("three times", "thrice"), 4: ("four times",)}
PLAN_REPEAT = (("repeat {n} times: {p}", "{p}, and do that {w}", "{p}. do it {n} times", "do this {w}: {p}",
                "{p}, repeat {n} times", "{p}, {w}", "{p}, {w} please", "{p}, {w} in a row",
                "{w}: {p}", "{p}, do it {w}", "{p} and repeat that {w}"),
               ("{p}, {n} rounds of that", "loop {n} times: {p}"))

# "..., then do the same again": the plan twice.
PLAN_TWICE = (("{p}, then do the same again", "{p}, then repeat that", "{p} and then do it again",
               "{p}, then again", "{p}, and repeat once", "{p}, then the same thing again"),
              ("{p}, and once more",))

# Whole utterances.
STOPS = (("stop", "stop!", "halt", "stop now", "emergency stop", "freeze", "stop the robot", "stop moving", "halt now",
          "stop right there", "e-stop", "stop immediately", "abort", "whoa, stop", "stop stop stop", "halt!",
          "emergency stop!", "stand still", "hold it", "hold up", "stop it", "enough, stop", "that's enough",
          "wait, stop", "no no no stop", "don't move", "stay where you are", "brake", "cut it", "stop right now",
          "hold your position", "stay", "pause", "stop everything", "kill it", "STOP"),
         ("hold still", "kill motion"))
STOP_BEFORE = (("stop, then {s}", "stop and {s}", "stop. {s}", "halt, then {s}", "stop first, then {s}",
                "stop, and then {s}"), ("freeze, then {s}",))
STOP_AFTER = (("{s} and stop", "{s}, then stop", "{s} and then stop", "{s} and stop there", "{s} then halt",
               "{s}, then come to a stop"), ("{s} and then freeze",))
QUERIES = {
    "battery": (("what is your battery level?", "battery status?", "how much charge is left?",
                 "what's the battery percentage?", "check your battery", "how is your battery doing?",
                 "report the battery level", "do you need charging?", "battery level please",
                 "how much power do you have left?", "are you running low on power?", "battery?",
                 "is your battery low?", "battery", "charge level?", "how much battery do you have?",
                 "what's your charge?", "how much power is left", "remaining battery?", "are you low on battery",
                 "do you have enough charge?", "how long will your battery last?", "percent battery?",
                 "what's left in the tank?", "power level?", "how charged are you", "need a recharge?",
                 "how's the battery", "check the battery level", "is the battery ok?", "battery percentage",
                 "what is the state of charge?", "tell me your battery", "how much energy do you have",
                 "juice level?", "what's your battery at?", "will your battery last another hour?"),
                ("how full is your battery?", "tell me the remaining charge")),
    "obstacles": (("report any obstacles", "are there any obstacles ahead?", "is the path clear?",
                   "what is in front of you?", "do you see any obstacles?", "check for obstacles",
                   "anything blocking your way?", "how far is the nearest obstacle?", "any obstacles?",
                   "is there something in front of you?", "scan your surroundings", "is it safe to drive forward?",
                   "obstacles?", "what do you see?", "anything in front?", "is the way clear?", "is anything near you?",
                   "how far away is the closest object?", "any obstructions?", "can you see anything ahead?",
                   "what's around you?", "is something blocking you?", "distance to the nearest obstacle?",
                   "are you clear to move?", "is the coast clear?", "check your lidar", "what does the scan say?",
                   "is there room ahead?", "are there things in your way", "anything close by?",
                   "how much free space is in front of you?", "is the road ahead free?"),
                  ("is anything in the way?", "scan for obstacles and tell me")),
    "status": (("what is your status?", "status report", "are you moving?", "what are you doing right now?",
                "report your state", "status?", "are you busy?", "give me a status update", "are you idle?",
                "what are you doing?", "what's going on?", "are you doing anything?", "what's your state?",
                "are you still moving?", "are you done?", "have you finished?", "what task are you on?",
                "status", "how are you getting on with the task?", "what's happening?", "are you stopped?",
                "are you working on something?", "sitrep", "what's your current task?", "are you ready?",
                "is the robot running?", "update me", "what are you up to?"),
               ("tell me your current state", "how are things going with you?")),
    "position": (("where are you?", "where are you now?", "what is your position?", "report your position",
                  "where is the robot?", "what are your coordinates?", "give me your pose", "what's your location?",
                  "where am i going to find you?", "location?", "where are you right now?",
                  "what's your current position?", "which room are you in?", "where exactly are you?",
                  "position?", "what are your x and y?", "where did you end up?", "tell me your location",
                  "where are you at?", "what's your pose?", "what's your heading?", "which way are you facing?",
                  "how far are you from where you started?", "are you in the kitchen?", "where's the robot now?",
                  "what room is the robot in?", "give me your coordinates"),
                 ("tell me where you are", "what's your current location?")),
}
# Queries composed from a frame and a word for the thing asked about ("how much juice have you got
# left?"): people vary both, and a fixed list teaches sentences, not the question.
QUERY_WORDS = {"battery": (("battery", "charge", "power", "juice", "energy", "battery life"), ("battery charge",)),
               "status": (("task", "job", "mission", "errand"), ("assignment",))}
QUERY_FRAMES = {
    "battery": (("how much {n} have you got left?", "how much {n} do you have left", "what percentage is your {n} at?",
                 "what's your {n} at", "is your {n} running low?", "do you have enough {n} left?",
                 "how's your {n} looking?", "{n} remaining?", "what's the {n} situation?", "how low is your {n}?",
                 "tell me how much {n} is left", "what level is your {n}", "got much {n} left?",
                 "is there enough {n} for another run?", "how much {n} remaining"),
                ("any {n} left?", "what is your remaining {n}?")),
    "status": (("are you busy with a {n}?", "what {n} are you doing at the moment?", "are you in the middle of a {n}?",
                "what's your current {n}?", "is there a {n} running?", "have you finished your {n}?",
                "are you still on that {n}?", "what {n} are you on right now", "how is the {n} going?",
                "are you done with the {n}?"),
               ("is your {n} finished?",)),
}
MEMORY = {
    "again": (("again", "do that again", "repeat that", "one more time", "once more", "same again", "do it again",
               "redo that", "again please", "repeat the last command", "do that once more", "and again!",
               "once again", "do the same thing again", "same thing again", "one more go", "let's do that again",
               "do it one more time", "again!", "repeat", "that again please", "and once more"),
              ("encore", "replay that")),
    "again_n": (("{n} times more", "{w} more", "do it {n} more times", "repeat that {w}", "again, {n} times",
                 "do that again {w}", "{w} more please", "do it {w} more", "{n} more times",
                 "repeat it {n} more times", "again, {w} more", "and {w} more"), ("{n} more times please",)),
    "undo": (("undo", "undo that", "go back to where you were", "reverse that", "take that back",
              "return to where you were", "undo the last move", "put yourself back where you were",
              "undo what you just did", "reverse your last move", "go back the way you came",
              "cancel that and go back", "undo it",
              "move back to where you were before", "return to your previous spot", "reverse the last command",
              "back to where you were", "reverse what you did"),
             ("revert that", "go back to your previous position")),
    "continue": (("continue", "keep going", "carry on", "go on", "resume", "finish what you were doing",
                  "continue please", "resume the plan", "keep going please",
                  "carry on with what you were doing", "ok continue", "you can continue now", "go ahead and resume",
                  "finish the plan", "resume the task"), ("proceed with the rest", "pick up where you left off")),
}
GREETINGS = (("hello", "hi there", "good morning", "hey robot", "thanks!", "thank you", "who are you?",
              "what can you do?", "help", "hi", "good afternoon", "nice to meet you", "how are you?", "thanks a lot",
              "cheers", "what commands do you understand?", "great job", "well done, thanks"),
             ("good evening", "what are you able to do?", "much appreciated"))
OFFTASK = (("rotate the pdf 90 degrees", "move my meeting to friday", "turn on the lights", "my cat keeps spinning",
            "turn off the music", "back up my files", "rotate the image left", "move the file to the desktop",
            "turn the page", "forward this email to bob", "reverse the list", "spin the wheel of fortune",
            "what's the capital of france?", "tell me a joke", "write a poem about the sea", "what is 2 plus 2?",
            "order me a pizza", "set an alarm for 7 am", "pick up the red cup", "open the door", "make me coffee",
            "turn up the heating", "move the meeting back 2 hours", "my dog ran 3 km today",
            "drive my sister to school",
            "rotate the tires on my car", "go ahead and book the flight", "turn the volume down 10 percent",
            "turn this text into a list", "the stock went back 2 percent", "my car turns left badly",
            "how do i bake bread?", "recommend a good book", "what's the weather like?", "scroll down the page",
            "rotate my password", "shift my shift to monday", "translate hello into spanish"),
           ("rotate the spreadsheet 90 degrees", "move the sofa 2 metres left", "turn the oven to 180 degrees",
            "my kid keeps going in circles"))
QUESTIONS = (("how fast can you go?", "what is your top speed?", "how far can you drive on a full charge?",
              "what's your maximum turning rate?", "how do i make you turn?", "which way is forward for you?",
              "why are you moving?", "how many degrees did you turn?", "how far did you go?",
              "can you drive sideways?", "do you have brakes?", "what happens when you hit a wall?",
              "how fast do you turn by default?"),
             ("what's the slowest you can drive?", "how sharp can you turn?"))
QUESTION_FRAMES = (("how long would it take you to {s}?", "is it safe to {s}?", "why did you {s}?",
                    "did you {s}?", "how much battery would it take to {s}?", "how long does it take to {s}?",
                    "what happens if you {s}?"),
                   ("do you know how to {s}?",))
NEGATIONS = (("don't {s}", "do not {s}", "never {s}", "please don't {s}", "you shouldn't {s}", "no need to {s}",
              "i don't want you to {s}", "don't {s} yet", "you don't have to {s}", "do not {s} please"),
             ("you must not {s}", "under no circumstances {s}"))
HYPOTHETICALS = (("what would happen if i asked you to {s}?", "what if you were to {s}?",
                  "hypothetically, would you {s}?", "imagine i told you to {s}",
                  "suppose i asked you to {s}. what would you do?", "if i said {s}, would you do it?",
                  "in theory, could you {s}?", "would you be able to {s}, hypothetically?",
                  "let's say i wanted you to {s}. what then?"),
                 ("just wondering, what would you do if told to {s}?", "picture yourself being asked to {s}"))
# Later, not now: the same reply as a hypothetical (nothing moves).
LATER = (("i might ask you to {s} later", "later i may want you to {s}", "tomorrow you will {s}",
          "at some point you'll need to {s}", "in an hour, {s}. not yet though", "next week we'll {s}",
          "remind me to tell you to {s}", "i'll ask you to {s} after lunch"),
         ("one day you could {s}",))
CORRECTIONS = ((", sorry, i mean {c}", ", no wait, {c}", ", i mean {c}", "... actually, {c}", ", no, {c}",
                " - correction: {c}", ", scratch that, {c}", ", make that {c}", ", sorry, {c}"),
               (", or rather {c}", ", err, i meant {c}", ", oops, {c}"))
# A motion verb whose object is not the robot: (verb, objects) composed into a request.
OFFTASK_VERBS = ((("turn on", ("the lights", "the tv", "the fan", "the heater", "the radio", "the oven", "wifi",
                              "the lamp", "the coffee machine", "the alarm", "bluetooth", "the projector")),
                  ("turn off", ("the lights", "the tv", "the stove", "the heater", "notifications", "the alarm",
                               "the music", "the fan", "the lamp", "the computer")),
                  ("turn up", ("the volume", "the heat", "the thermostat", "the music", "the brightness")),
                  ("turn down", ("the volume", "the heating", "the music", "the brightness", "the offer",
                                 "the thermostat")),
                  ("rotate", ("this photo", "the image", "the document", "the screen", "the logs", "the slide",
                              "the video", "the api keys", "the chart", "the picture", "the scan")),
                  ("flip", ("the pancake", "the coin", "the image", "the page", "the table")),
                  ("spin up", ("a server", "a new instance", "a container", "a virtual machine", "a cluster",
                               "a test environment")),
                  ("move", ("my appointment", "the meeting", "the deadline", "the file", "the folder", "the call",
                            "the chair", "the box", "the couch", "the car", "my dentist appointment", "the slides")),
                  ("reverse", ("the order", "the string", "the charges", "the decision", "the transaction",
                               "the polarity", "the list", "the sort")),
                  ("back up", ("the database", "my phone", "the photos", "the laptop", "the server")),
                  ("go through", ("my emails", "the report", "the checklist", "the code", "the slides")),
                  ("drive", ("traffic to my website", "sales", "my kids to school", "the nail in", "growth")),
                  ("turn", ("the page", "the key", "the tables", "the music up", "the tap", "the handle",
                            "this into a summary", "the knob"))),
                 (("shift", ("the schedule", "the blame", "the meeting")),
                  ("roll back", ("the update", "the deployment", "the release"))))
OFFTASK_FRAMES = (("{v} {o}", "please {v} {o}", "can you {v} {o}?", "{v} {o} for me", "could you {v} {o}",
                   "i need you to {v} {o}", "{v} {o} now", "go ahead and {v} {o}"),
                  ("would you mind if we {v} {o}",))
# Physical things a motion verb moves by an amount ("move the couch 2 m to the left"): still not the robot.
OFFTASK_AMOUNTS = {"move": ("the chair", "the box", "the couch", "the sofa", "the table", "the lamp", "the plant",
                            "the bin", "the tv stand", "my desk"),
                   "rotate": ("this photo", "the image", "the picture", "the screen", "the monitor", "the map"),
                   "turn": ("the key", "the tap", "the handle", "the knob", "the dial", "the steering wheel"),
                   "flip": ("the image", "the picture")}
# A step as something another agent, or the speaker, does ({s}: the step; {{agent}} filled after).
SOMEONE_ELSE = (("the {{agent}} should {s}", "my {{agent}} will {s}", "i'm going to {s}", "i need to {s} myself",
                 "i want my {{agent}} to {s}", "the {{agent}} can {s}", "watch the {{agent}} {s}",
                 "i'll {s} on my own", "my {{agent}} tried to {s}", "the {{agent}} is about to {s}",
                 "we are going to {s} with the {{agent}}", "i told the {{agent}} to {s}"),
                ("the {{agent}} has to {s}",))
# Motion words in a story or about someone else: nothing is asked of the robot.
NARRATIVES = (("i went to the {place} earlier", "i drove 20 km to work today", "yesterday i walked to the {place}",
               "my {agent} keeps going around in circles", "the {agent} turned left at the corner",
               "the {agent} needs to back up 2 meters", "my {agent} moved forward 3 spaces",
               "we moved forward with the plan", "the {agent} spun around twice", "i turned right onto main street",
               "the {agent} drove to the {place} this morning", "my {agent} ran 5 km", "we'll move ahead next week",
               "the {agent} should reverse 1 meter", "she went back to the {place}", "he turned around and left",
               "the game says move forward 2 squares", "in chess the knight moves in an l shape",
               "the {agent} is rotating 90 degrees", "i spun around and fell over"),
              ("my {agent} backed into the {place} door", "someone walked forward 3 steps"))
AGENTS = (("cat", "dog", "neighbour", "forklift", "drone", "car", "other robot", "vacuum", "son", "boss",
           "truck", "roomba", "colleague"), ("delivery van",))
ABSURD = (("1e9", "nan", "infinity", "999999999", "10000000", "1e12", "infinite", "5000000"), ("inf", "1e15"))


def pick_dir(ctx: Ctx, axis: str, sign: int | None = None) -> tuple[str, str]:
    """(phrase, answer word) for ``axis`` ("linear"/"angular"); sign None = either."""
    if sign is None:
        sign = 1 if ctx.chance(0.6 if axis == "linear" else 0.5) else -1
    table = (FORWARD if sign > 0 else BACKWARD) if axis == "linear" else (LEFT if sign > 0 else RIGHT)
    return ctx.pick(f"dir.{axis}", table)


def chunk(ctx: Ctx, name: str, table, typed: str) -> str:
    return ctx.pick(name, *table).format(typed)
