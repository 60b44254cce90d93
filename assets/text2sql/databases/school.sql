-- 대학 학사 관리 (course-authored, 가상의 데이터)
CREATE TABLE departments (
    dept_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,          -- 학과명
    building TEXT NOT NULL       -- 건물
);
CREATE TABLE professors (
    prof_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    dept_id INTEGER NOT NULL REFERENCES departments(dept_id),
    hire_year INTEGER NOT NULL   -- 임용 연도
);
CREATE TABLE students (
    student_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    dept_id INTEGER NOT NULL REFERENCES departments(dept_id),
    year INTEGER NOT NULL,       -- 학년 1~4
    gpa REAL NOT NULL            -- 평점 (4.5 만점)
);
CREATE TABLE courses (
    course_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,         -- 과목명
    dept_id INTEGER NOT NULL REFERENCES departments(dept_id),
    prof_id INTEGER NOT NULL REFERENCES professors(prof_id),
    credits INTEGER NOT NULL     -- 학점
);
CREATE TABLE enrollments (
    student_id INTEGER NOT NULL REFERENCES students(student_id),
    course_id INTEGER NOT NULL REFERENCES courses(course_id),
    semester TEXT NOT NULL,      -- 학기: 2024-1, 2024-2
    score INTEGER,               -- 점수 0~100 (아직 성적이 없으면 NULL)
    PRIMARY KEY (student_id, course_id, semester)
);

INSERT INTO departments VALUES
 (1, '컴퓨터공학과', '공학관'),
 (2, '경영학과', '경영관'),
 (3, '국어국문학과', '인문관'),
 (4, '수학과', '자연과학관'),
 (5, '심리학과', '사회과학관');

INSERT INTO professors VALUES
 (1, '김태희', 1, 2008), (2, '박성민', 1, 2015), (3, '이정훈', 2, 2011),
 (4, '정미경', 2, 2019), (5, '최윤서', 3, 2005), (6, '한상우', 4, 2013),
 (7, '송지은', 5, 2021), (8, '유재석', 4, 2022);

INSERT INTO students VALUES
 (2021001, '강민서', 1, 4, 3.85), (2021002, '고은비', 2, 4, 3.20),
 (2022001, '권태양', 1, 3, 4.10), (2022002, '남궁별', 3, 3, 3.55),
 (2022003, '문하늘', 4, 3, 2.90), (2023001, '배수지', 1, 2, 3.95),
 (2023002, '서지훈', 2, 2, 2.75), (2023003, '신예린', 5, 2, 4.30),
 (2023004, '안준호', 4, 2, 3.40), (2024001, '양소희', 1, 1, 3.10),
 (2024002, '엄태웅', 3, 1, 3.65), (2024003, '황보람', 5, 1, 2.60),
 (2024004, '노유진', 2, 1, 4.00), (2021003, '도현우', 5, 4, 3.05),
 (2024005, '표지성', 4, 1, 3.30);

INSERT INTO courses VALUES
 (1, '자료구조', 1, 1, 3), (2, '운영체제', 1, 2, 3), (3, '인공지능', 1, 1, 3),
 (4, '회계원리', 2, 3, 3), (5, '마케팅', 2, 4, 2), (6, '현대문학', 3, 5, 3),
 (7, '선형대수', 4, 6, 3), (8, '확률과 통계', 4, 8, 3), (9, '인지심리학', 5, 7, 2),
 (10, '글쓰기', 3, 5, 1), (11, '데이터베이스', 1, 2, 3);

INSERT INTO enrollments VALUES
 (2021001, 1, '2024-1', 92), (2021001, 3, '2024-2', 88), (2021001, 7, '2024-1', 75),
 (2021002, 4, '2024-1', 81), (2021002, 5, '2024-2', 67),
 (2022001, 1, '2024-1', 97), (2022001, 2, '2024-2', 90), (2022001, 8, '2024-2', 85),
 (2022002, 6, '2024-1', 78), (2022002, 10, '2024-2', 95),
 (2022003, 7, '2024-1', 58), (2022003, 8, '2024-2', 71),
 (2023001, 1, '2024-1', 89), (2023001, 3, '2024-2', NULL),
 (2023002, 4, '2024-1', 62), (2023002, 9, '2024-2', 74),
 (2023003, 9, '2024-1', 99), (2023003, 8, '2024-2', 93),
 (2023004, 7, '2024-1', 84), (2023004, 2, '2024-2', NULL),
 (2024001, 1, '2024-2', 70), (2024001, 10, '2024-2', 88),
 (2024002, 6, '2024-2', 91),
 (2024003, 9, '2024-2', 55),
 (2024004, 5, '2024-2', 96), (2024004, 4, '2024-2', 87),
 (2021003, 9, '2024-1', 80);
